using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// A group's reductions over its threads, each returned to every thread bit-identical: the merge of
/// <see cref="RowMoments"/> (the forward's mean and variance, one reduction a chunk) and a pair of sums (the
/// backward's two gradient means, one reduction a row). Each is one barrier on the warp-shuffle path, where two
/// consecutive reductions use different halves of the scratch (<c>buffer</c> 0 and 1): a thread overwrites a half only
/// after the next reduction's barrier, which every thread reaches after reading that half.
/// </summary>
internal interface IRowSum
{
    /// <summary>Floats of shared scratch the kernel allocates for this strategy.</summary>
    int ScratchFloats { get; }

    /// <summary>
    /// The group's threads' moments merged, in an order that does not depend on the thread. <paramref name="equalCounts"/>
    /// (a compile-time constant): every thread's count is the same, so pairwise merges need no division.
    /// </summary>
    RowMoments Moments(RowMoments local, ArrayView<float> scratch, int buffer, bool equalCounts);

    /// <summary>Σ <paramref name="a"/> and Σ <paramref name="b"/> over the group, on every thread.</summary>
    (float A, float B) SumPair(float a, float b, ArrayView<float> scratch, int buffer);
}

/// <summary>
/// Warp shuffles (a butterfly: every lane ends with the same value), then the warps' values through shared memory:
/// where the group has at most a warp's lanes of warps (every CUDA group), lane w of every warp reads warp w's value
/// and the warp sums them by a second butterfly, a fixed number of steps whatever the group's size; elsewhere (the CPU
/// accelerator's narrow warps) every thread merges them in warp order. On CUDA the butterflies are written out for 32
/// lanes: ILGPU does not unroll loops, and the loop's counter, test and branch had cost more than its shuffles (Nsight
/// Compute on the H100, 2026-12-07: the backward's per-row reduction, a loop of 16 warps' reads that every thread ran,
/// was a fifth of its instructions).
/// </summary>
internal readonly struct WarpShuffleRowSum : IRowSum
{
    /// <summary>Most warps a group (1024 threads of 4-lane warps).</summary>
    public const int MaxWarps = 256;

    /// <summary>Floats a warp leaves in a half of the scratch (the three moments).</summary>
    private const int Slot = 3;

    public int ScratchFloats => 2 * Slot * MaxWarps;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowMoments Moments(RowMoments local, ArrayView<float> scratch, int buffer, bool equalCounts)
    {
        if (Warp.WarpSize == 32)
        {
            local = MergeLanes(local, 16, equalCounts);
            local = MergeLanes(local, 8, equalCounts);
            local = MergeLanes(local, 4, equalCounts);
            local = MergeLanes(local, 2, equalCounts);
            local = MergeLanes(local, 1, equalCounts);
        }
        else
            for (int lanes = Warp.WarpSize / 2; lanes > 0; lanes /= 2)
                local = MergeLanes(local, lanes, equalCounts);
        int warps = Group.DimX / Warp.WarpSize;
        if (warps == 1)
            return local;
        int origin = buffer * Slot * MaxWarps;
        if (Warp.IsFirstLane)
        {
            scratch[origin + Slot * Warp.WarpIdx] = local.Count;
            scratch[origin + Slot * Warp.WarpIdx + 1] = local.Mean;
            scratch[origin + Slot * Warp.WarpIdx + 2] = local.M2;
        }
        Group.Barrier();
        // mean = Σ n_w·mean_w / n, M2 = Σ M2_w + n_w·(mean_w − mean)²: Chan's update for all warps at once.
        float count = 0f, weighted = 0f, mean, m2 = 0f;
        if (warps <= Warp.WarpSize)
        {
            int lane = Warp.LaneIdx;
            float n = 0f, laneMean = 0f, laneM2 = 0f;
            if (lane < warps)
            {
                n = scratch[origin + Slot * lane];
                laneMean = scratch[origin + Slot * lane + 1];
                laneM2 = scratch[origin + Slot * lane + 2];
            }
            count = n;
            weighted = n * laneMean;
            SumLanes(ref count, ref weighted);
            mean = weighted / XMath.Max(count, 1f);
            float deviation = laneMean - mean;
            m2 = SumLanes(laneM2 + n * deviation * deviation);
            return new RowMoments { Count = count, Mean = mean, M2 = m2 };
        }
        for (int w = 0; w < warps; w++)
        {
            float n = scratch[origin + Slot * w];
            count += n;
            weighted += n * scratch[origin + Slot * w + 1];
        }
        mean = weighted / XMath.Max(count, 1f);
        for (int w = 0; w < warps; w++)
        {
            float deviation = scratch[origin + Slot * w + 1] - mean;
            m2 += scratch[origin + Slot * w + 2] + scratch[origin + Slot * w] * deviation * deviation;
        }
        return new RowMoments { Count = count, Mean = mean, M2 = m2 };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (float A, float B) SumPair(float a, float b, ArrayView<float> scratch, int buffer)
    {
        SumLanes(ref a, ref b);
        int warps = Group.DimX / Warp.WarpSize;
        if (warps == 1)
            return (a, b);
        int origin = buffer * Slot * MaxWarps;
        if (Warp.IsFirstLane)
        {
            scratch[origin + Slot * Warp.WarpIdx] = a;
            scratch[origin + Slot * Warp.WarpIdx + 1] = b;
        }
        Group.Barrier();
        float totalA = 0f, totalB = 0f;
        if (warps <= Warp.WarpSize)
        {
            int lane = Warp.LaneIdx;
            if (lane < warps)
            {
                totalA = scratch[origin + Slot * lane];
                totalB = scratch[origin + Slot * lane + 1];
            }
            SumLanes(ref totalA, ref totalB);
            return (totalA, totalB);
        }
        for (int w = 0; w < warps; w++)
        {
            totalA += scratch[origin + Slot * w];
            totalB += scratch[origin + Slot * w + 1];
        }
        return (totalA, totalB);
    }

    /// <summary>
    /// Σ <paramref name="a"/> and Σ <paramref name="b"/> over the warp's lanes, on every lane: lane i adds (its value +
    /// lane j's), lane j (its + lane i's), and addition commutes, so all hold the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SumLanes(ref float a, ref float b)
    {
        if (Warp.WarpSize == 32)
        {
            AddLanes(ref a, ref b, 16);
            AddLanes(ref a, ref b, 8);
            AddLanes(ref a, ref b, 4);
            AddLanes(ref a, ref b, 2);
            AddLanes(ref a, ref b, 1);
        }
        else
            for (int lanes = Warp.WarpSize / 2; lanes > 0; lanes /= 2)
                AddLanes(ref a, ref b, lanes);
    }

    /// <summary>Σ <paramref name="value"/> over the warp's lanes, on every lane (as <see cref="SumLanes(ref float, ref float)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumLanes(float value)
    {
        if (Warp.WarpSize == 32)
        {
            value += Warp.ShuffleXor(value, 16);
            value += Warp.ShuffleXor(value, 8);
            value += Warp.ShuffleXor(value, 4);
            value += Warp.ShuffleXor(value, 2);
            return value + Warp.ShuffleXor(value, 1);
        }
        for (int lanes = Warp.WarpSize / 2; lanes > 0; lanes /= 2)
            value += Warp.ShuffleXor(value, lanes);
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddLanes(ref float a, ref float b, int lanes)
    {
        a += Warp.ShuffleXor(a, lanes);
        b += Warp.ShuffleXor(b, lanes);
    }

    /// <summary>The moments of this lane and the lane <paramref name="lanes"/> away, merged by both in the same order (lower lane first): the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static RowMoments MergeLanes(RowMoments local, int lanes, bool equalCounts)
    {
        var other = new RowMoments
        {
            Count = Warp.ShuffleXor(local.Count, lanes), Mean = Warp.ShuffleXor(local.Mean, lanes), M2 = Warp.ShuffleXor(local.M2, lanes),
        };
        bool upper = (Warp.LaneIdx & lanes) != 0;
        var (low, high) = (upper ? other : local, upper ? local : other);
        return equalCounts ? RowMoments.CombineEqual(low, high) : RowMoments.Combine(low, high);
    }
}

/// <summary>
/// A tree through shared memory, log₂(threads) barriers, a power-of-two group: OpenCL, which has no warp shuffles
/// outside Intel. One scratch for every reduction (<c>buffer</c> does not apply): each opens with a barrier, so that no
/// thread overwrites the previous reduction's result before every thread has read it.
/// </summary>
internal readonly struct SharedTreeRowSum : IRowSum
{
    /// <summary>Most threads a group.</summary>
    public const int MaxThreads = 1024;

    public int ScratchFloats => 3 * MaxThreads;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowMoments Moments(RowMoments local, ArrayView<float> scratch, int buffer, bool equalCounts)
    {
        int thread = Group.IdxX;
        Group.Barrier();
        Store(scratch, thread, local);
        for (int stride = Group.DimX / 2; stride > 0; stride /= 2)
        {
            Group.Barrier();
            if (thread < stride)
            {
                var (low, high) = (Read(scratch, thread), Read(scratch, thread + stride));
                Store(scratch, thread, equalCounts ? RowMoments.CombineEqual(low, high) : RowMoments.Combine(low, high));
            }
        }
        Group.Barrier();
        return Read(scratch, 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (float A, float B) SumPair(float a, float b, ArrayView<float> scratch, int buffer)
    {
        int thread = Group.IdxX;
        Group.Barrier();
        scratch[thread] = a;
        scratch[MaxThreads + thread] = b;
        for (int stride = Group.DimX / 2; stride > 0; stride /= 2)
        {
            Group.Barrier();
            if (thread < stride)
            {
                scratch[thread] += scratch[thread + stride];
                scratch[MaxThreads + thread] += scratch[MaxThreads + thread + stride];
            }
        }
        Group.Barrier();
        return (scratch[0], scratch[MaxThreads]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static RowMoments Read(ArrayView<float> scratch, int thread) =>
        new() { Count = scratch[thread], Mean = scratch[MaxThreads + thread], M2 = scratch[2 * MaxThreads + thread] };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ArrayView<float> scratch, int thread, RowMoments moments)
    {
        scratch[thread] = moments.Count;
        scratch[MaxThreads + thread] = moments.Mean;
        scratch[2 * MaxThreads + thread] = moments.M2;
    }
}
