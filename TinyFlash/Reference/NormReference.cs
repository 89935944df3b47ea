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

    /// <summary>
    /// The closed-form gradients of <see cref="Compute"/> for output gradient <paramref name="gradOutput"/>: of x, the
    /// residual, the bias, γ and β (the last three summed over rows).
    /// </summary>
    public static (double[] GradX, double[] GradResidual, double[] GradBias, double[] GradGamma, double[] GradBeta) Backward(
        ReadOnlySpan<float> gradOutput, ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> gamma, int hidden, NormOptions options)
    {
        var (_, sum, means, rstds) = Compute(x, residual, bias, gamma, [], hidden, options);
        int rows = means.Length;
        var gradX = new double[x.Length];
        var gradResidual = new double[x.Length];
        var gradBias = new double[hidden];
        var gradGamma = new double[hidden];
        var gradBeta = new double[hidden];
        double p = options.DropoutProbability;
        for (int r = 0; r < rows; r++)
        {
            double meanG = 0, meanGx = 0;
            for (int c = 0; c < hidden; c++)
            {
                int e = r * hidden + c;
                double g = gradOutput[e] * (double)gamma[c], normalised = (sum[e] - means[r]) * rstds[r];
                meanG += g;
                meanGx += g * normalised;
            }
            meanG = options.Kind == NormKind.LayerNorm ? meanG / hidden : 0;
            meanGx /= hidden;
            for (int c = 0; c < hidden; c++)
            {
                int e = r * hidden + c;
                double normalised = (sum[e] - means[r]) * rstds[r];
                double ds = rstds[r] * (gradOutput[e] * (double)gamma[c] - meanG - normalised * meanGx);
                double keep = p > 0 ? Philox.Uniform(options.Seed, options.Offset, e) >= (float)p ? 1 / (1 - p) : 0 : 1;
                gradResidual[e] = ds;
                gradX[e] = ds * keep;
                gradBias[c] += ds * keep;
                gradGamma[c] += gradOutput[e] * normalised;
                gradBeta[c] += gradOutput[e];
            }
        }
        return (gradX, gradResidual, gradBias, gradGamma, gradBeta);
    }
}
