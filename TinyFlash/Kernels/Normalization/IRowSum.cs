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
/// lane l of every warp takes warps l, l + W, … in order (on CUDA, where a group has at most 32 warps, warp l's alone)
/// and a second butterfly adds the lanes' shares, so a group of any size pays the same shuffles and no thread walks
/// the warps one by one. Butterflies are written out for 32 lanes (<see cref="Butterfly"/>): ILGPU does not unroll
/// loops, and the loop's counter, test and branch had cost more than its shuffles (Nsight Compute on the H100,
/// 2026-12-07: the backward's per-row reduction, a loop of 16 warps' reads that every thread ran, was a fifth of its
/// instructions).
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
        var merge = new MergeMoments { Local = local, EqualCounts = equalCounts };
        Butterfly(ref merge);
        local = merge.Local;
        int warps = Warps;
        if (warps == 1)
            return local;
        int origin = buffer * Slot * MaxWarps;
        if (Warp.IsFirstLane)
        {
            scratch[origin + Slot * WarpIndex] = local.Count;
            scratch[origin + Slot * WarpIndex + 1] = local.Mean;
            scratch[origin + Slot * WarpIndex + 2] = local.M2;
        }
        Group.Barrier();
        // mean = Σ n_w·mean_w / n, M2 = Σ M2_w + n_w·(mean_w − mean)²: Chan's update for all warps at once.
        var totals = new AddPair();
        for (int w = Warp.LaneIdx; w < warps; w += Warp.WarpSize)
        {
            float n = scratch[origin + Slot * w];
            totals.A += n;
            totals.B += n * scratch[origin + Slot * w + 1];
        }
        Butterfly(ref totals);
        float count = totals.A, mean = totals.B / XMath.Max(count, 1f);
        var m2 = new AddOne();
        for (int w = Warp.LaneIdx; w < warps; w += Warp.WarpSize)
        {
            float deviation = scratch[origin + Slot * w + 1] - mean;
            m2.Value += scratch[origin + Slot * w + 2] + scratch[origin + Slot * w] * deviation * deviation;
        }
        Butterfly(ref m2);
        return new RowMoments { Count = count, Mean = mean, M2 = m2.Value };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (float A, float B) SumPair(float a, float b, ArrayView<float> scratch, int buffer)
    {
        var sums = new AddPair { A = a, B = b };
        Butterfly(ref sums);
        int warps = Warps;
        if (warps == 1)
            return (sums.A, sums.B);
        int origin = buffer * Slot * MaxWarps;
        if (Warp.IsFirstLane)
        {
            scratch[origin + Slot * WarpIndex] = sums.A;
            scratch[origin + Slot * WarpIndex + 1] = sums.B;
        }
        Group.Barrier();
        var totals = new AddPair();
        for (int w = Warp.LaneIdx; w < warps; w += Warp.WarpSize)
        {
            totals.A += scratch[origin + Slot * w];
            totals.B += scratch[origin + Slot * w + 1];
        }
        Butterfly(ref totals);
        return (totals.A, totals.B);
    }

    /// <summary>
    /// Warps in the group, by a shift on 32-lane warps: ILGPU divides by the warp size as a signed division, which ptxas
    /// turned into a reciprocal sequence, once a row (Nsight Compute on the H100, 2026-12-07: with <see cref="WarpIndex"/>,
    /// the fp16 backward ran 681 instructions a warp a row with shifts against 704 without; its time did not change).
    /// </summary>
    private static int Warps
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Warp.WarpSize == 32 ? Group.DimX >> 5 : Group.DimX / Warp.WarpSize;
    }

    /// <summary>This thread's warp in its (one-dimensional) group, by a shift on 32-lane warps (<see cref="Warps"/>).</summary>
    private static int WarpIndex
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Warp.WarpSize == 32 ? Group.IdxX >> 5 : Group.IdxX / Warp.WarpSize;
    }

    /// <summary>
    /// <paramref name="step"/> with the lanes 16, 8, 4, 2 and 1 away (on CUDA, written out) or every power of two below
    /// the warp's size (the CPU accelerator's warps): after it every lane holds the whole warp's result, the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Butterfly<TStep>(ref TStep step) where TStep : struct, ILaneStep
    {
        if (Warp.WarpSize == 32)
        {
            step.Exchange(16);
            step.Exchange(8);
            step.Exchange(4);
            step.Exchange(2);
            step.Exchange(1);
        }
        else
            for (int lanes = Warp.WarpSize / 2; lanes > 0; lanes /= 2)
                step.Exchange(lanes);
    }

    /// <summary>One step of a butterfly: this lane's state and that of the lane <c>lanes</c> away combined, both lanes alike.</summary>
    private interface ILaneStep
    {
        void Exchange(int lanes);
    }

    /// <summary>
    /// A sum over the lanes: lane i adds (its value + lane j's), lane j (its + lane i's), and addition commutes, so both
    /// hold the same bits.
    /// </summary>
    private struct AddOne : ILaneStep
    {
        public float Value;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Exchange(int lanes) => Value += Warp.ShuffleXor(Value, lanes);
    }

    /// <summary>Two sums over the lanes at once (as <see cref="AddOne"/>).</summary>
    private struct AddPair : ILaneStep
    {
        public float A, B;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Exchange(int lanes)
        {
            A += Warp.ShuffleXor(A, lanes);
            B += Warp.ShuffleXor(B, lanes);
        }
    }

    /// <summary>The lanes' moments merged, both lanes of a pair in the same order (lower lane first): the same bits.</summary>
    private struct MergeMoments : ILaneStep
    {
        public RowMoments Local;

        /// <summary>Every lane's count is the same (a compile-time constant: the merge needs no division).</summary>
        public bool EqualCounts;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Exchange(int lanes)
        {
            var other = new RowMoments
            {
                Count = Warp.ShuffleXor(Local.Count, lanes), Mean = Warp.ShuffleXor(Local.Mean, lanes), M2 = Warp.ShuffleXor(Local.M2, lanes),
            };
            bool upper = (Warp.LaneIdx & lanes) != 0;
            var (low, high) = (upper ? other : Local, upper ? Local : other);
            Local = EqualCounts ? RowMoments.CombineEqual(low, high) : RowMoments.Combine(low, high);
        }
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
