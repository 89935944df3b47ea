using ILGPU;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// The backward pass's two row-wise kernels in groups of any size: before the main kernels, one thread a query row,
/// D = rowsum(dO ∘ O) (the softmax's gradient term, in fp32) and the row of a zeroed dQ accumulator; after them, one
/// thread per (query row, four features), the accumulator times the scale stored as dQ in the query's layout. A row r
/// of the log-sum-exp's order is (batch·heads + head)·QueryLength + position (packed sequences: batch 0, the packed
/// position).
/// </summary>
/// <remarks>
/// D took a thread per four features of which only the first summed the row: one busy lane a warp, each walking its
/// row's elements one load at a time. A thread a row keeps every lane busy (a warp's loads walk 32 rows together, each
/// row's next elements from the line the last load brought into L1): 1.4-1.6 ms off the d128 backward over 16384
/// tokens × 16 heads on the H100 at every sequence length, 0.3 ms at d64 (session 12 runs 2 and 3).
/// </remarks>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class BackwardRowKernels<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>D of this thread's row, and the row's accumulator zeroed where dQ is summed atomically.</summary>
    public static void Prepare(BackwardParams<T> bp)
    {
        var p = bp.Attention;
        int row = Grid.GlobalIndex.X;
        if (row >= p.LogSumExp.IntLength)
            return;
        if (bp.GradQueryAccumulator.Length > 0)
        {
            int start = row * p.HeadDim;
            for (int feature = 0; feature < p.HeadDim; feature++)
                bp.GradQueryAccumulator[start + feature] = 0f;
        }
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

    /// <summary>Threads <see cref="Prepare"/> needs for <paramref name="rows"/> query rows: one a row.</summary>
    public static long PrepareThreads(long rows) => rows;

    /// <summary>Threads <see cref="StoreGradQuery"/> needs for <paramref name="rows"/> query rows of <paramref name="headDim"/> features.</summary>
    public static long StoreThreads(long rows, int headDim) => rows * (headDim / 4);

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
