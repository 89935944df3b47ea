namespace TinyFlash.Reference;

/// <summary>The outcome of one <see cref="VerificationCase"/> against the double-precision reference.</summary>
/// <param name="Case">The case.</param>
/// <param name="Error">
/// fp32: maximum absolute error divided by the maximum absolute reference value; fp16/bf16: maximum absolute error.
/// </param>
/// <param name="Bound">
/// fp32: 1e-5; fp16/bf16: twice the maximum absolute error of <see cref="NaiveAttention"/> in the same type, plus 1e-6
/// (FlashAttention's rule).
/// </param>
/// <param name="LogSumExpError">Largest |lse − reference| / max(1, |reference|); infinities must match exactly.</param>
/// <param name="Passed">Whether the output is finite, within <see cref="Bound"/>, and the log-sum-exp within 2e-5.</param>
public sealed record VerificationResult(VerificationCase Case, double Error, double Bound, double LogSumExpError, bool Passed)
{
    /// <summary>The log-sum-exp tolerance (relative above 1, absolute below).</summary>
    public const double LogSumExpTolerance = 2e-5;
}
