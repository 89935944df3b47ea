using ILGPU;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// The backward pass's two row-wise kernels, one thread per (query row, four features) in groups of any size: before
/// the main kernels, D = rowsum(dO ∘ O) (the softmax's gradient term, in fp32) and a zeroed dQ accumulator; after
/// them, the accumulator times the scale stored as dQ in the query's layout. A row r of the log-sum-exp's order is
/// (batch·heads + head)·QueryLength + position (packed sequences: batch 0, the packed position).
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class BackwardRowKernels<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>D per row (the thread of the row's features 0..3 sums the row; others only zero the accumulator).</summary>
    public static void Prepare(BackwardParams<T> bp)
    {
        var p = bp.Attention;
        if (!RowAndQuad(p, out int row, out int quad))
            return;
        if (bp.GradQueryAccumulator.Length > 0)
        {
            int target = row * p.HeadDim + 4 * quad;
            bp.GradQueryAccumulator[target] = 0f;
            bp.GradQueryAccumulator[target + 1] = 0f;
            bp.GradQueryAccumulator[target + 2] = 0f;
            bp.GradQueryAccumulator[target + 3] = 0f;
        }
        if (quad != 0)
            return;
        int origin = p.QueryRowOrigin(row);
        TCodec codec = default;
        float sum = 0f;
        for (int feature = 0; feature < p.HeadDim; feature++)
            sum += codec.ToFloat(bp.GradOutput[origin + feature]) * codec.ToFloat(p.Output[origin + feature]);
        bp.Delta[row] = sum;
    }

    /// <summary>dQ = scale · accumulator, in the query's layout and storage.</summary>
    public static void StoreGradQuery(BackwardParams<T> bp)
    {
        var p = bp.Attention;
        if (!RowAndQuad(p, out int row, out int quad))
            return;
        int source = row * p.HeadDim + 4 * quad;
        int target = p.QueryRowOrigin(row) + 4 * quad;
        TCodec codec = default;
        bp.GradQuery[target] = codec.FromFloat(bp.GradQueryAccumulator[source] * bp.Scale);
        bp.GradQuery[target + 1] = codec.FromFloat(bp.GradQueryAccumulator[source + 1] * bp.Scale);
        bp.GradQuery[target + 2] = codec.FromFloat(bp.GradQueryAccumulator[source + 2] * bp.Scale);
        bp.GradQuery[target + 3] = codec.FromFloat(bp.GradQueryAccumulator[source + 3] * bp.Scale);
    }

    /// <summary>Threads a launch needs for <paramref name="rows"/> query rows of <paramref name="headDim"/> features.</summary>
    public static long Threads(long rows, int headDim) => rows * (headDim / 4);

    /// <summary>This thread's query row (log-sum-exp order) and four-feature unit; false past the last row.</summary>
    private static bool RowAndQuad(in Forward.AttentionParams<T> p, out int row, out int quad)
    {
        int quads = p.HeadDim / 4;
        int index = Grid.GlobalIndex.X;
        row = index / quads;
        quad = index - row * quads;
        return row < p.LogSumExp.IntLength;
    }
}
