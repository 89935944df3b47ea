namespace TinyFlash.Normalization;

/// <summary>
/// Checks the arguments of a fused normalisation call and returns its row count: every failure is an
/// <see cref="ArgumentException"/> naming the argument and what it should have been.
/// </summary>
internal static class NormValidator
{
    /// <summary>
    /// x holds rows × <paramref name="hidden"/> elements; residual as many or none; bias, gamma and beta
    /// <paramref name="hidden"/> each (bias and beta may be absent, gamma not; RMSNorm has no beta); options sound.
    /// </summary>
    public static int Validate(long x, long residual, long bias, long gamma, long beta, int hidden, NormOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (hidden <= 0)
            throw new ArgumentOutOfRangeException(nameof(hidden), hidden, $"hidden must be positive; got {hidden}.");
        if (hidden > 65536)
            throw new ArgumentOutOfRangeException(nameof(hidden), hidden, $"hidden may be at most 65536; got {hidden}.");
        if (x == 0 || x % hidden != 0)
            throw new ArgumentException($"x has {x} elements; it must hold one or more rows of hidden = {hidden}.", nameof(x));
        if (x > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(x), x, $"x has {x} elements; the kernels index with 32-bit integers and take at most {int.MaxValue}.");
        if (residual != 0 && residual != x)
            throw new ArgumentException($"residual has {residual} elements; it must match x ({x}) or be empty.", nameof(residual));
        if (bias != 0 && bias != hidden)
            throw new ArgumentException($"bias has {bias} elements; it must have hidden = {hidden} or be empty.", nameof(bias));
        if (gamma != hidden)
            throw new ArgumentException($"gamma has {gamma} elements; it must have hidden = {hidden}.", nameof(gamma));
        if (options.Kind == NormKind.RmsNorm && beta != 0)
            throw new ArgumentException("RMSNorm has no beta; pass an empty beta.", nameof(beta));
        if (beta != 0 && beta != hidden)
            throw new ArgumentException($"beta has {beta} elements; it must have hidden = {hidden} or be empty.", nameof(beta));
        if (!Enum.IsDefined(options.Kind))
            throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "options.Kind must be LayerNorm or RmsNorm.");
        if (!float.IsFinite(options.Epsilon) || options.Epsilon < 0f)
            throw new ArgumentOutOfRangeException(nameof(options), options.Epsilon, $"options.Epsilon must be finite and at least 0; got {options.Epsilon}.");
        if (!(options.DropoutProbability >= 0f && options.DropoutProbability < 1f))
            throw new ArgumentOutOfRangeException(nameof(options), options.DropoutProbability,
                $"options.DropoutProbability must be in [0, 1); got {options.DropoutProbability}.");
        return (int)(x / hidden);
    }
}
