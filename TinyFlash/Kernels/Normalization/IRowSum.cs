using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The sum of one float over a group's threads, returned to every thread bit-identical (the norm kernels' mean,
/// variance and gradient means). Two consecutive sums use different halves of the scratch (<c>buffer</c> 0 and 1), so a
/// sum needs one barrier: a thread overwrites a half only after the next sum's barrier, which every thread reaches
/// after reading that half.
/// </summary>
internal interface IRowSum
{
    /// <summary>Floats of shared scratch the kernel allocates for this strategy (both halves).</summary>
    int ScratchFloats { get; }

    /// <summary>Σ <paramref name="value"/> over the group, on every thread.</summary>
    float Sum(float value, ArrayView<float> scratch, int buffer);
}

/// <summary>
/// Warp shuffles (a butterfly: every lane ends with the same sum), then the warps' sums through shared memory, added
/// by every thread in warp order. CUDA and ILGPU's CPU accelerator.
/// </summary>
internal readonly struct WarpShuffleRowSum : IRowSum
{
    /// <summary>Most warps a group (1024 threads of 4-lane warps).</summary>
    public const int MaxWarps = 256;

    public int ScratchFloats => 2 * MaxWarps;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Sum(float value, ArrayView<float> scratch, int buffer)
    {
        for (int lanes = Warp.WarpSize / 2; lanes > 0; lanes /= 2)
            value += Warp.ShuffleXor(value, lanes);
        int warps = Group.DimX / Warp.WarpSize;
        if (warps == 1)
            return value;
        if (Warp.IsFirstLane)
            scratch[buffer * MaxWarps + Warp.WarpIdx] = value;
        Group.Barrier();
        float total = 0f;
        for (int w = 0; w < warps; w++)
            total += scratch[buffer * MaxWarps + w];
        return total;
    }
}

/// <summary>A tree through shared memory, log₂(threads) barriers: OpenCL, which has no warp shuffles outside Intel.</summary>
internal readonly struct SharedTreeRowSum : IRowSum
{
    /// <summary>Most threads a group.</summary>
    public const int MaxThreads = 1024;

    public int ScratchFloats => 2 * MaxThreads;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Sum(float value, ArrayView<float> scratch, int buffer)
    {
        int thread = Group.IdxX, origin = buffer * MaxThreads;
        scratch[origin + thread] = value;
        for (int stride = Group.DimX / 2; stride > 0; stride /= 2)
        {
            Group.Barrier();
            if (thread < stride)
                scratch[origin + thread] += scratch[origin + thread + stride];
        }
        Group.Barrier();
        return scratch[origin];
    }
}
