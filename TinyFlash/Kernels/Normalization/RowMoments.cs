using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The count, mean and sum of squared deviations M2 of some of a row's pre-norm sums: what a thread computes over the
/// features it holds, and what a group merges into the row's mean and variance (M2 / count) in one reduction. RMSNorm
/// keeps the mean 0, so that M2 is Σs².
/// </summary>
internal struct RowMoments
{
    public float Count, Mean, M2;

    /// <summary>
    /// <paramref name="a"/> and <paramref name="b"/> together, by Chan et al.'s update (exact in real arithmetic,
    /// stable in fp32); either may be empty. Not symmetric in floating point: callers that must agree bit for bit pass
    /// the same operands in the same order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowMoments Combine(RowMoments a, RowMoments b)
    {
        float count = a.Count + b.Count, delta = b.Mean - a.Mean;
        float share = b.Count / XMath.Max(count, 1f); // counts are whole numbers: 0 only when both are empty
        return new RowMoments { Count = count, Mean = a.Mean + delta * share, M2 = a.M2 + b.M2 + delta * delta * a.Count * share };
    }

    /// <summary>
    /// <see cref="Combine"/> of two parts of the same count (the butterfly's merges on an exact row, where every thread
    /// holds 4·K features): the share is ½, no division.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowMoments CombineEqual(RowMoments a, RowMoments b)
    {
        float delta = b.Mean - a.Mean;
        return new RowMoments { Count = a.Count + b.Count, Mean = a.Mean + delta * 0.5f, M2 = a.M2 + b.M2 + delta * delta * (a.Count * 0.5f) };
    }
}
