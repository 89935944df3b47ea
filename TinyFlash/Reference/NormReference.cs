using TinyFlash.Numerics;

namespace TinyFlash.Reference;

/// <summary>
/// <c>y = Norm(dropout(x + bias) + residual)</c> in double precision, row by row from the definitions (two-pass mean and
/// variance), with the dropout mask drawn from the same Philox stream the kernels use: the independent reference of
/// the fused normalisation. Empty residual, bias and beta mean none.
/// </summary>
public static class NormReference
{
    /// <summary>The output, the pre-norm sum and the per-row mean and reciprocal standard deviation.</summary>
    public static (double[] Output, double[] Sum, double[] Mean, double[] Rstd) Compute(ReadOnlySpan<float> x, ReadOnlySpan<float> residual,
        ReadOnlySpan<float> bias, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, int hidden, NormOptions options)
    {
        int rows = Normalization.NormValidator.Validate(x.Length, residual.Length, bias.Length, gamma.Length, beta.Length, hidden, options);
        var output = new double[x.Length];
        var sum = new double[x.Length];
        var means = new double[rows];
        var rstds = new double[rows];
        double p = options.DropoutProbability;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < hidden; c++)
            {
                int e = r * hidden + c;
                double value = x[e] + (bias.IsEmpty ? 0 : bias[c]);
                if (p > 0)
                    value = Philox.Uniform(options.Seed, options.Offset, e) >= (float)p ? value / (1 - p) : 0;
                sum[e] = value + (residual.IsEmpty ? 0 : residual[e]);
            }
            var row = sum.AsSpan(r * hidden, hidden);
            double mean = 0;
            if (options.Kind == NormKind.LayerNorm)
            {
                foreach (double s in row)
                    mean += s;
                mean /= hidden;
            }
            double square = 0;
            foreach (double s in row)
                square += (s - mean) * (s - mean);
            double rstd = 1 / Math.Sqrt(square / hidden + options.Epsilon);
            means[r] = mean;
            rstds[r] = rstd;
            for (int c = 0; c < hidden; c++)
                output[r * hidden + c] = (row[c] - mean) * rstd * gamma[c] + (beta.IsEmpty ? 0 : beta[c]);
        }
        return (output, sum, means, rstds);
    }
}
