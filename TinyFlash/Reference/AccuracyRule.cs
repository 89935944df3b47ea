namespace TinyFlash.Reference;

/// <summary>
/// FlashAttention's accuracy rule, in one place for the tests, <c>verify</c> and <c>run</c>. fp32: the maximum
/// absolute error divided by the maximum absolute reference value stays below 1e-5. fp16/bf16: the maximum
/// absolute error is at most twice that of a naive computation in the same type (<see cref="NaiveAttention"/>),
/// plus 1e-6 so that a result the naive computation gets exactly right does not demand a perfect score.
/// </summary>
internal static class AccuracyRule
{
    /// <summary>The bound on the relative error of the fp32 path.</summary>
    public const double Float32RelativeBound = 1e-5;

    /// <summary>The error measure and its bound for <paramref name="type"/>; NaN anywhere in <paramref name="actual"/> makes the error NaN.</summary>
    /// <param name="type">Storage type of <paramref name="actual"/>.</param>
    /// <param name="actual">What the kernel produced.</param>
    /// <param name="reference">The double-precision reference at the same positions.</param>
    /// <param name="naive">The naive same-type computation at the same positions (unused for fp32).</param>
    /// <param name="scale">
    /// A magnitude the errors are relative to at least (beside the reference's own largest value): for a gradient that
    /// cancels to zero exactly (one visible key: dq = dk = 0), the largest gradient of the call. Also scales the fp16/bf16
    /// slack of 1e-6.
    /// </param>
    public static (double Error, double Bound) Measure(ElementType type, ReadOnlySpan<float> actual,
        ReadOnlySpan<double> reference, ReadOnlySpan<float> naive, double scale = 0)
    {
        double error = MaxAbsoluteError(actual, reference);
        if (type == ElementType.Float32)
        {
            foreach (double r in reference)
                scale = Math.Max(scale, Math.Abs(r));
            return (error / Math.Max(scale, double.Epsilon), Float32RelativeBound);
        }
        return (error, 2 * MaxAbsoluteError(naive, reference) + 1e-6 * Math.Max(1, scale));
    }

    /// <summary>Largest |actual − reference|; NaN if any element is NaN.</summary>
    public static double MaxAbsoluteError(ReadOnlySpan<float> actual, ReadOnlySpan<double> reference)
    {
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - reference[i]);
            max = double.IsNaN(error) ? double.NaN : Math.Max(max, error);
        }
        return max;
    }
}
