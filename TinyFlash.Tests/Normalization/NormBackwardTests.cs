using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using Half = System.Half;

namespace TinyFlash.Tests.Normalization;

/// <summary>
/// The fused norm's backward: the reference's closed-form gradients against central finite differences of the double
/// forward, the kernels against the closed form on every CPU backend and dtype, dropout regenerated from the forward's
/// stream, and bit-identical results from run to run.
/// </summary>
public class NormBackwardTests
{
    private static (float[] X, float[] Residual, float[] Bias, float[] Gamma, float[] Beta, float[] Dy) Inputs(int rows, int hidden, ElementType type)
    {
        var round = NaiveAttention.RoundingOf(type);
        return (RandomTensors.Normal((long)rows * hidden, 21, round), RandomTensors.Normal((long)rows * hidden, 22, round),
            RandomTensors.Normal(hidden, 23, round), RandomTensors.Normal(hidden, 24, x => round(1 + x / 4)),
            RandomTensors.Normal(hidden, 25, round), RandomTensors.Normal((long)rows * hidden, 26, round));
    }

    [TestCase(NormKind.LayerNorm, 0f)]
    [TestCase(NormKind.LayerNorm, 0.25f)]
    [TestCase(NormKind.RmsNorm, 0f)]
    [TestCase(NormKind.RmsNorm, 0.25f)]
    public void The_closed_form_gradients_match_central_finite_differences(NormKind kind, float p)
    {
        const int rows = 3, hidden = 7;
        var (x, residual, bias, gamma, beta, dy) = Inputs(rows, hidden, ElementType.Float32);
        if (kind == NormKind.RmsNorm)
            beta = [];
        var options = new NormOptions { Kind = kind, DropoutProbability = p, Seed = 5, Offset = 1 };
        var analytic = NormReference.Backward(dy, x, residual, bias, gamma, hidden, options);

        double Loss(float[] xx, float[] rr, float[] bb, float[] gg, float[] be)
        {
            var y = NormReference.Compute(xx, rr, bb, gg, be, hidden, options).Output;
            return y.Select((v, i) => v * dy[i]).Sum();
        }
        void Check(float[] tensor, double[] expected, string name)
        {
            for (int i = 0; i < tensor.Length; i++)
            {
                float saved = tensor[i];
                const float h = 1e-2f;
                tensor[i] = saved + h;
                double plus = Loss(x, residual, bias, gamma, beta);
                tensor[i] = saved - h;
                double minus = Loss(x, residual, bias, gamma, beta);
                tensor[i] = saved;
                Assert.That(expected[i], Is.EqualTo((plus - minus) / (2 * h)).Within(2e-3 * Math.Max(1, Math.Abs(expected[i]))), $"{name}[{i}]");
            }
        }
        Check(x, analytic.GradX, "x");
        Check(residual, analytic.GradResidual, "residual");
        Check(bias, analytic.GradBias, "bias");
        Check(gamma, analytic.GradGamma, "gamma");
        if (kind == NormKind.LayerNorm)
            Check(beta, analytic.GradBeta, "beta");
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        var types = Enum.GetValues<ElementType>();
        int t = 0;
        foreach (int hidden in new[] { 1, 33, 1000, 4096 })
            foreach (var kind in Enum.GetValues<NormKind>())
                foreach (float p in new[] { 0f, 0.1f })
                {
                    var type = types[t++ % types.Length];
                    yield return new TestCaseData(hidden, kind, p, type).SetName($"Backward: {kind}, hidden {hidden}, p = {p}, {type}");
                }
    }

    [TestCaseSource(nameof(Cases))]
    public void The_kernels_gradients_match_the_closed_form_on_every_CPU_backend(int hidden, NormKind kind, float p, ElementType type)
    {
        int rows = hidden >= 1000 ? 3 : 9;
        var (x, residual, bias, gamma, _, dy) = Inputs(rows, hidden, type);
        var options = new NormOptions { Kind = kind, DropoutProbability = p, Seed = 77, Offset = 3 };
        var forward = NormReference.Compute(x, residual, bias, gamma, [], hidden, options);
        float[] mean = Array.ConvertAll(forward.Mean, v => (float)v), rstd = Array.ConvertAll(forward.Rstd, v => (float)v);
        var expected = NormReference.Backward(dy, x, residual, bias, gamma, hidden, options);
        foreach (var backend in TestBackend.Cpu)
        {
            var actual = Run(backend.Engine, type, dy, x, residual, bias, gamma, mean, rstd, hidden, options);
            // Per-element gradients carry the storage's rounding, relative to the terms whose difference they are (for
            // hidden 1, RMSNorm's gradient is rstd·g·(1 − x̂²), a cancellation); the per-feature sums add up `rows` of them.
            double tolerance = type == ElementType.Float32 ? 2e-5 : type == ElementType.Float16 ? 4e-3 : 3e-2;
            var scale = GradientScale(dy, gamma, forward, hidden, kind, p);
            AssertClose(actual.GradX, expected.GradX, tolerance, $"{backend}: dx", scale);
            AssertClose(actual.GradResidual, expected.GradResidual, tolerance, $"{backend}: dresidual", scale);
            AssertClose(actual.GradBias, expected.GradBias, tolerance * rows, $"{backend}: dbias");
            AssertClose(actual.GradGamma, expected.GradGamma, tolerance * rows, $"{backend}: dgamma");
            if (kind == NormKind.LayerNorm)
                AssertClose(actual.GradBeta, expected.GradBeta, tolerance * rows, $"{backend}: dbeta");
            else
                Assert.That(actual.GradBeta, Is.Empty);
        }
    }

    [Test]
    public void Gradients_are_bit_identical_from_run_to_run()
    {
        var engine = TestBackend.Warp32.Engine;
        const int rows = 40, hidden = 300;
        var (x, residual, bias, gamma, _, dy) = Inputs(rows, hidden, ElementType.Float32);
        var options = new NormOptions { DropoutProbability = 0.1f, Seed = 1, Offset = 2 };
        var forward = engine.LayerNormDropoutResidual(x, residual, bias, gamma, [], hidden, options);
        var first = engine.LayerNormDropoutResidualBackward(dy, x, residual, bias, gamma, forward.Mean, forward.Rstd, hidden, options);
        for (int run = 0; run < 3; run++)
        {
            var again = engine.LayerNormDropoutResidualBackward(dy, x, residual, bias, gamma, forward.Mean, forward.Rstd, hidden, options);
            Assert.That(again.GradGamma, Is.EqualTo(first.GradGamma));
            Assert.That(again.GradBias, Is.EqualTo(first.GradBias));
            Assert.That(again.GradX, Is.EqualTo(first.GradX));
        }
    }

    [Test]
    public void Bad_backward_input_is_refused_naming_the_argument()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var gamma = new float[8];
        var shortGradient = Assert.Throws<ArgumentException>(() =>
            engine.LayerNormDropoutResidualBackward(new float[15], new float[16], [], [], gamma, new float[2], new float[2], 8))!;
        Assert.That(shortGradient.ParamName, Is.EqualTo("gradOutput"));
        var shortStatistics = Assert.Throws<ArgumentException>(() =>
            engine.LayerNormDropoutResidualBackward(new float[16], new float[16], [], [], gamma, new float[1], new float[2], 8))!;
        Assert.That(shortStatistics.ParamName, Is.EqualTo("mean"));
        Support.Inputs.AssertEngineWorks(engine);
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

    private static void AssertClose(float[] actual, double[] expected, double tolerance, string what, double[]? scale = null)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length), what);
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / Math.Max(Math.Max(1, Math.Abs(expected[i])), scale?[i] ?? 0));
        Assert.That(worst, Is.LessThanOrEqualTo(tolerance), what);
    }

    private static (float[] GradX, float[] GradResidual, float[] GradBias, float[] GradGamma, float[] GradBeta) Run(FlashEngine engine, ElementType type,
        float[] dy, float[] x, float[] residual, float[] bias, float[] gamma, float[] mean, float[] rstd, int hidden, NormOptions options)
    {
        switch (type)
        {
            case ElementType.Float32:
                var f = engine.LayerNormDropoutResidualBackward(dy, x, residual, bias, gamma, mean, rstd, hidden, options);
                return (f.GradX, f.GradResidual, f.GradBias, f.GradGamma, f.GradBeta);
            case ElementType.Float16:
                static Half[] H(float[] v) => Array.ConvertAll(v, a => (Half)a);
                static float[] FH(Half[] v) => Array.ConvertAll(v, a => (float)a);
                var h = engine.LayerNormDropoutResidualBackward(H(dy), H(x), H(residual), H(bias), H(gamma), mean, rstd, hidden, options);
                return (FH(h.GradX), FH(h.GradResidual), FH(h.GradBias), FH(h.GradGamma), FH(h.GradBeta));
            default:
                static BFloat16[] B(float[] v) => Array.ConvertAll(v, a => (BFloat16)a);
                static float[] FB(BFloat16[] v) => Array.ConvertAll(v, a => (float)a);
                var b = engine.LayerNormDropoutResidualBackward(B(dy), B(x), B(residual), B(bias), B(gamma), mean, rstd, hidden, options);
                return (FB(b.GradX), FB(b.GradResidual), FB(b.GradBias), FB(b.GradGamma), FB(b.GradBeta));
        }
    }
}
