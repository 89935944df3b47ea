using TinyFlash.Normalization;
using Half = System.Half;

namespace TinyFlash.Reference;

/// <summary>One problem of the fused norm's correctness matrix: rows × hidden features, the norm, dropout and storage.</summary>
/// <param name="Rows">Rows of the tensors.</param>
/// <param name="Hidden">Features a row.</param>
/// <param name="Kind">LayerNorm (with β) or RMSNorm.</param>
/// <param name="Dropout">Dropout probability.</param>
/// <param name="Type">Storage type.</param>
public sealed record NormCase(int Rows, int Hidden, NormKind Kind, float Dropout, ElementType Type)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Kind}, {Rows}x{Hidden}, p = {Dropout}, {Type}";
}

/// <summary>One quantity of a <see cref="NormCase"/> against the reference.</summary>
/// <param name="Quantity">What was compared (output, dx, dgamma, …).</param>
/// <param name="Error">The largest error, in the units <see cref="NormVerifier"/> states for the quantity.</param>
/// <param name="Bound">The largest error allowed.</param>
public sealed record NormCheck(string Quantity, double Error, double Bound)
{
    /// <summary>Whether the error is a number within the bound.</summary>
    public bool Passed => Error <= Bound;
}

/// <summary>
/// The fused norm forward and backward on an engine against <see cref="NormReference"/> (double precision, the same
/// Philox mask): how the tests check the CPU backends and <c>TinyFlash.Bench verify --norm</c> checks CUDA and OpenCL.
/// Forward: the output and pre-norm sum in rounding steps of the storage at the reference value (at least 1: the rows
/// are of order 1), at most 4 and 2; rstd in fp32 steps, at most 64; the mean relatively, 1e-5. Backward (from the
/// reference's statistics rounded to fp32): per-element gradients relative to the terms they are the difference of
/// (their cancellation is not the kernel's error), 2e-5 in fp32, 4e-3 in fp16, 3e-2 in bf16; the per-feature sums the
/// same times the rows they add.
/// </summary>
public static class NormVerifier
{
    /// <summary>
    /// Hidden sizes 1, 31, 33, 768, 1000, 4096, 40000 and 65536 (rows of one chunk and of several, not multiples of a
    /// warp or of a quad; 768 and 4096 exact rows, 768 of three warps), both norms, p = 0 and 0.1, the storage types
    /// taken in turn; the short rows 150 of them, so that each of the CPU's three row blocks in the backward takes 50
    /// (several warps' worth of row statistics, read a warp's worth at a time).
    /// </summary>
    public static IEnumerable<NormCase> Matrix()
    {
        var types = Enum.GetValues<ElementType>();
        int t = 0;
        foreach (int hidden in new[] { 1, 31, 33, 768, 1000, 4096, 40000, 65536 })
            foreach (var kind in Enum.GetValues<NormKind>())
                foreach (float p in new[] { 0f, 0.1f })
                    yield return new NormCase(hidden >= 4096 ? 2 : hidden >= 1000 ? 3 : hidden >= 768 ? 9 : 150, hidden, kind, p, types[t++ % types.Length]);
    }

    /// <summary>Runs the case's forward and backward on <paramref name="engine"/>; every check, passed or not.</summary>
    public static IReadOnlyList<NormCheck> Run(FlashEngine engine, NormCase c)
    {
        var round = NaiveAttention.RoundingOf(c.Type);
        int rows = c.Rows, hidden = c.Hidden;
        float[] x = RandomTensors.Normal((long)rows * hidden, 21, round), residual = RandomTensors.Normal((long)rows * hidden, 22, round);
        float[] bias = RandomTensors.Normal(hidden, 23, round), gamma = RandomTensors.Normal(hidden, 24, v => round(1 + v / 4));
        float[] beta = c.Kind == NormKind.LayerNorm ? RandomTensors.Normal(hidden, 25, round) : [];
        float[] dy = RandomTensors.Normal((long)rows * hidden, 26, round);
        var options = new NormOptions { Kind = c.Kind, DropoutProbability = c.Dropout, Seed = 77, Offset = 3 };

        var expected = NormReference.Compute(x, residual, bias, gamma, beta, hidden, options);
        var actual = Forward(engine, c.Type, x, residual, bias, gamma, beta, hidden, options);
        var checks = new List<NormCheck>
        {
            new("output", StorageSteps(actual.Output, expected.Output, c.Type), 4),
            new("pre-norm sum", StorageSteps(actual.Sum, expected.Sum, c.Type), 2),
            new("rstd", StorageSteps(actual.Rstd, expected.Rstd, ElementType.Float32), 64),
            new("mean", RelativeError(actual.Mean, expected.Mean, null), 1e-5),
        };

        float[] mean = Array.ConvertAll(expected.Mean, v => (float)v), rstd = Array.ConvertAll(expected.Rstd, v => (float)v);
        var gradients = NormReference.Backward(dy, x, residual, bias, gamma, hidden, options);
        var computed = Backward(engine, c.Type, dy, x, residual, bias, gamma, mean, rstd, hidden, options);
        double tolerance = c.Type == ElementType.Float32 ? 2e-5 : c.Type == ElementType.Float16 ? 4e-3 : 3e-2;
        var scale = GradientScale(dy, gamma, expected, hidden, c.Kind, c.Dropout);
        checks.Add(new("dx", RelativeError(computed.GradX, gradients.GradX, scale), tolerance));
        checks.Add(new("dresidual", RelativeError(computed.GradResidual, gradients.GradResidual, scale), tolerance));
        checks.Add(new("dbias", RelativeError(computed.GradBias, gradients.GradBias, null), tolerance * rows));
        checks.Add(new("dgamma", RelativeError(computed.GradGamma, gradients.GradGamma, null), tolerance * rows));
        checks.Add(c.Kind == NormKind.LayerNorm
            ? new("dbeta", RelativeError(computed.GradBeta, gradients.GradBeta, null), tolerance * rows)
            : new("dbeta absent", computed.GradBeta.Length, 0));
        return checks;
    }

    /// <summary>Largest error in rounding steps of <paramref name="type"/> at the reference value (at least at 1); NaN counts as infinite.</summary>
    public static double StorageSteps(float[] actual, double[] expected, ElementType type)
    {
        if (actual.Length != expected.Length)
            return double.PositiveInfinity;
        double unit = type switch { ElementType.Float32 => 1.0 / (1 << 20), ElementType.Float16 => 1.0 / (1 << 10), _ => 1.0 / (1 << 7) };
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]) / (unit * Math.Max(Math.Abs(expected[i]), 1));
            worst = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(worst, error);
        }
        return worst;
    }

    /// <summary>Largest |actual − expected| / max(1, |expected|, scale); NaN counts as infinite.</summary>
    private static double RelativeError(float[] actual, double[] expected, double[]? scale)
    {
        if (actual.Length != expected.Length)
            return double.PositiveInfinity;
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]) / Math.Max(Math.Max(1, Math.Abs(expected[i])), scale?[i] ?? 0);
            worst = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(worst, error);
        }
        return worst;
    }

    /// <summary>
    /// The size of the terms a per-element gradient is the difference of, rstd·(|dy·γ| + |mean(dy·γ)| + |x̂·mean(dy·γ·x̂)|)
    /// (times the dropout scale): a float computation's error is relative to this, not to the (possibly cancelled) result.
    /// </summary>
    private static double[] GradientScale(float[] dy, float[] gamma, (double[] Output, double[] Sum, double[] Mean, double[] Rstd) forward,
        int hidden, NormKind kind, float p)
    {
        var scale = new double[dy.Length];
        for (int r = 0; r < forward.Rstd.Length; r++)
        {
            double meanG = 0, meanGx = 0;
            for (int c = 0; c < hidden; c++)
            {
                int e = r * hidden + c;
                double g = dy[e] * (double)gamma[c];
                meanG += g;
                meanGx += g * (forward.Sum[e] - forward.Mean[r]) * forward.Rstd[r];
            }
            meanG = kind == NormKind.LayerNorm ? Math.Abs(meanG / hidden) : 0;
            meanGx = Math.Abs(meanGx / hidden);
            for (int c = 0; c < hidden; c++)
            {
                int e = r * hidden + c;
                double normalised = Math.Abs((forward.Sum[e] - forward.Mean[r]) * forward.Rstd[r]);
                scale[e] = forward.Rstd[r] * (Math.Abs(dy[e] * (double)gamma[c]) + meanG + normalised * meanGx) / (1 - p);
            }
        }
        return scale;
    }

    private static Half[] ToHalf(float[] v) => Array.ConvertAll(v, a => (Half)a);
    private static BFloat16[] ToBFloat16(float[] v) => Array.ConvertAll(v, a => (BFloat16)a);
    private static float[] Widen(Half[] v) => Array.ConvertAll(v, a => (float)a);
    private static float[] Widen(BFloat16[] v) => Array.ConvertAll(v, a => (float)a);

    /// <summary>The engine's host forward in <paramref name="type"/>, widened to float.</summary>
    private static NormResult<float> Forward(FlashEngine engine, ElementType type, float[] x, float[] residual, float[] bias,
        float[] gamma, float[] beta, int hidden, NormOptions options)
    {
        switch (type)
        {
            case ElementType.Float32:
                return engine.LayerNormDropoutResidual(x, residual, bias, gamma, beta, hidden, options);
            case ElementType.Float16:
                var h = engine.LayerNormDropoutResidual(ToHalf(x), ToHalf(residual), ToHalf(bias), ToHalf(gamma), ToHalf(beta), hidden, options);
                return new(Widen(h.Output), Widen(h.Sum), h.Mean, h.Rstd);
            default:
                var b = engine.LayerNormDropoutResidual(ToBFloat16(x), ToBFloat16(residual), ToBFloat16(bias), ToBFloat16(gamma), ToBFloat16(beta),
                    hidden, options);
                return new(Widen(b.Output), Widen(b.Sum), b.Mean, b.Rstd);
        }
    }

    /// <summary>The engine's host backward in <paramref name="type"/>, widened to float.</summary>
    private static NormGradients<float> Backward(FlashEngine engine, ElementType type, float[] dy, float[] x, float[] residual,
        float[] bias, float[] gamma, float[] mean, float[] rstd, int hidden, NormOptions options)
    {
        switch (type)
        {
            case ElementType.Float32:
                return engine.LayerNormDropoutResidualBackward(dy, x, residual, bias, gamma, mean, rstd, hidden, options);
            case ElementType.Float16:
                var h = engine.LayerNormDropoutResidualBackward(ToHalf(dy), ToHalf(x), ToHalf(residual), ToHalf(bias), ToHalf(gamma), mean, rstd,
                    hidden, options);
                return new(Widen(h.GradX), Widen(h.GradResidual), Widen(h.GradBias), Widen(h.GradGamma), Widen(h.GradBeta));
            default:
                var b = engine.LayerNormDropoutResidualBackward(ToBFloat16(dy), ToBFloat16(x), ToBFloat16(residual), ToBFloat16(bias),
                    ToBFloat16(gamma), mean, rstd, hidden, options);
                return new(Widen(b.GradX), Widen(b.GradResidual), Widen(b.GradBias), Widen(b.GradGamma), Widen(b.GradBeta));
        }
    }
}
