using TinyFlash.Reference;
using TinyFlash.Tests.Support;

namespace TinyFlash.Tests.Normalization;

/// <summary>
/// The fused norm's backward: the reference's closed-form gradients against central finite differences of the double
/// forward, dropout regenerated from the forward's stream, and bit-identical results from run to run (the kernels
/// against the closed form on every CPU backend and dtype: <see cref="NormVerifier"/>, in NormDropoutResidualTests).
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
}
