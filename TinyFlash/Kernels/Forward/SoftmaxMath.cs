using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Forward;

/// <summary>Scalar softmax formulas every forward kernel shares.</summary>
internal static class SoftmaxMath
{
    /// <summary>
    /// ln Σ exp(scores) of a row from its running maximum in base-2 units (scores·scale·log2 e) and its sum of
    /// 2^(score − max): max·ln 2 + ln sum; −∞ for a row that saw no key (sum 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LogSumExp(float maxBase2, float sum) =>
        sum > 0f ? maxBase2 * 0.693147180559945309f + XMath.Log(sum) : float.NegativeInfinity;
}
