using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Forward;

/// <summary>Scalar softmax formulas the forward and backward kernels share.</summary>
internal static class SoftmaxMath
{
    /// <summary>
    /// ln Σ exp(scores) of a row from its running maximum in base-2 units (scores·scale·log2 e) and its sum of
    /// 2^(score − max): max·ln 2 + ln sum; −∞ for a row that saw no key (sum 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LogSumExp(float maxBase2, float sum) =>
        sum > 0f ? maxBase2 * 0.693147180559945309f + XMath.Log(sum) : float.NegativeInfinity;

    /// <summary>
    /// The offset a backward kernel subtracts from a row's base-2 scores to get its probabilities, P = 2^(s − offset):
    /// the forward's natural-log log-sum-exp times log2 e, or +∞ where the row does not exist or saw no key (−∞), so
    /// that every P of the row is 0 rather than NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ProbabilityOffset(float logSumExp, bool rowExists) =>
        rowExists & logSumExp != float.NegativeInfinity ? logSumExp * 1.44269504088896341f : float.PositiveInfinity;
}
