namespace TinyFlash;

/// <summary>
/// How <see cref="FlashEngine.LayerNormDropoutResidual{T}"/> computes <c>y = Norm(dropout(x + bias) + residual)</c>.
/// </summary>
/// <example>
/// <code>var options = new NormOptions { Kind = NormKind.RmsNorm, DropoutProbability = 0.1f, Seed = 42, Offset = step };</code>
/// </example>
public sealed record NormOptions
{
    /// <summary>LayerNorm (γ and β) or RMSNorm (γ only).</summary>
    public NormKind Kind { get; init; } = NormKind.LayerNorm;

    /// <summary>Added to the variance (mean square for RMSNorm) before the square root; finite and at least 0.</summary>
    public float Epsilon { get; init; } = 1e-5f;

    /// <summary>
    /// Probability that an element of x + bias is zeroed (the kept ones are scaled by 1/(1 − p)); in [0, 1). 0 is
    /// exactly the computation without dropout.
    /// </summary>
    public float DropoutProbability { get; init; }

    /// <summary>
    /// The dropout stream: element e of the call (row·hidden + column) is dropped when the Philox4x32-10 uniform of
    /// (Seed, Offset, e) is below p. The same seed and offset give the same mask on every backend (the backward
    /// regenerates it); advance the offset between calls that must differ.
    /// </summary>
    public ulong Seed { get; init; }

    /// <summary>Counter offset of the dropout stream (see <see cref="Seed"/>).</summary>
    public ulong Offset { get; init; }

    /// <summary>LayerNorm, ε = 1e-5, no dropout.</summary>
    public static NormOptions Default { get; } = new();
}
