using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// The backward pass's two row-wise kernels in groups of any size: before the main kernels, D = rowsum(dO ∘ O) (the
/// softmax's gradient term, in fp32) and the row of a zeroed dQ accumulator, a row by consecutive threads of four
/// features each; after them, one thread per (query row, four features), the accumulator times the scale stored as dQ in
/// the query's layout. A row r of the log-sum-exp's order is (batch·heads + head)·QueryLength + position (packed
/// sequences: batch 0, the packed position).
/// </summary>
/// <remarks>
/// D by a thread a row (each lane of a warp walking its own row, two bytes a load) took 1.33-1.35 ms of every d128
/// backward over 16384 tokens × 16 heads on the H200 (Nsight Compute, session 13 run 1: 100 GB/s, L2 busy 82 %, as long
/// as the dq and key-block passes together at N = 1024); threads of four consecutive features read a warp's rows as
/// whole lines.
/// </remarks>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class BackwardRowKernels<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Most threads a group of <see cref="Prepare"/> (the size of its shared partial sums).</summary>
    public const int PrepareGroupLimit = 256;

    /// <summary>
    /// D of the group's rows, and their accumulator rows zeroed where dQ is summed atomically: a row's threads (one a
    /// quad, at most the group; <see cref="PrepareLaunch"/>) each sum dO∘O over every such-th quad of it (consecutive
    /// threads, consecutive quads), and the row's first thread adds their partial sums in order.
    /// </summary>
    public static void Prepare(BackwardParams<T> bp)
    {
        var p = bp.Attention;
        var partials = SharedMemory.Allocate<float>(PrepareGroupLimit);
        int quads = p.HeadDim / 4;
        int threadsPerRow = XMath.Min(quads, Group.DimX);
        int local = Group.IdxX;
        int rowInGroup = local / threadsPerRow;
        int lane = local - rowInGroup * threadsPerRow;
        int row = Grid.IdxX * (Group.DimX / threadsPerRow) + rowInGroup;
        bool inside = row < p.LogSumExp.IntLength;
        TCodec codec = default;
        float sum = 0f;
        if (inside)
        {
            int origin = p.QueryRowOrigin(row), start = row * p.HeadDim;
            for (int quad = lane; quad < quads; quad += threadsPerRow)
            {
                int at = origin + 4 * quad;
                sum += codec.ToFloat(bp.GradOutput[at]) * codec.ToFloat(p.Output[at])
                       + codec.ToFloat(bp.GradOutput[at + 1]) * codec.ToFloat(p.Output[at + 1])
                       + codec.ToFloat(bp.GradOutput[at + 2]) * codec.ToFloat(p.Output[at + 2])
                       + codec.ToFloat(bp.GradOutput[at + 3]) * codec.ToFloat(p.Output[at + 3]);
                if (bp.GradQueryAccumulator.Length > 0)
                {
                    int accumulator = start + 4 * quad;
                    bp.GradQueryAccumulator[accumulator] = 0f;
                    bp.GradQueryAccumulator[accumulator + 1] = 0f;
                    bp.GradQueryAccumulator[accumulator + 2] = 0f;
                    bp.GradQueryAccumulator[accumulator + 3] = 0f;
                }
            }
        }
        partials[local] = sum;
        Group.Barrier();
        if (inside & lane == 0)
        {
            float delta = 0f;
            for (int i = 0; i < threadsPerRow; i++)
                delta += partials[local + i];
            bp.Delta[row] = delta;
        }
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

    /// <summary>
    /// The launch of <see cref="Prepare"/> for <paramref name="rows"/> query rows: groups of whole rows of at most
    /// <paramref name="maxGroup"/> threads, a row's threads one a quad but at most a group (the kernel derives the same
    /// count from the group size).
    /// </summary>
    public static (long Groups, int GroupSize) PrepareLaunch(long rows, int headDim, int maxGroup)
    {
        int groupLimit = Math.Min(maxGroup, PrepareGroupLimit);
        int threadsPerRow = Math.Min(headDim / 4, groupLimit);
        int rowsPerGroup = groupLimit / threadsPerRow;
        return ((rows + rowsPerGroup - 1) / rowsPerGroup, rowsPerGroup * threadsPerRow);
    }

    /// <summary>
    /// The launch of <see cref="StoreGradQuery"/> for <paramref name="rows"/> query rows of <paramref name="headDim"/>
    /// features: a thread a quad, in groups of at most 256 threads and <paramref name="maxGroup"/>.
    /// </summary>
    public static (long Groups, int GroupSize) StoreLaunch(long rows, int headDim, int maxGroup)
    {
        long threads = rows * (headDim / 4);
        int groupSize = Math.Min(256, maxGroup);
        return ((threads + groupSize - 1) / groupSize, groupSize);
    }

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
