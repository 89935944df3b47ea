using TinyFlash.Reference;

namespace TinyFlash.Tests.Reference;

/// <summary>The reference itself, on problems small enough to work out by hand.</summary>
public class ReferenceAttentionTests
{
    [Test]
    public void Two_keys_give_the_softmax_weighted_average_of_their_values()
    {
        // One query, two keys, d = 32 with one non-zero feature: scores q·k·scale = (2, 0) · (1/√32).
        var shape = new AttentionShape(1, 1, 1, 1, 2, 32);
        var q = new float[32];
        var k = new float[64];
        var v = new float[64];
        q[0] = 2f;
        k[0] = 1f;
        v[0] = 10f;
        v[32] = -4f;
        double s = 2 * (double)(1f / MathF.Sqrt(32)); // the default scale, as a float, like the engine's
        double p0 = Math.Exp(s) / (Math.Exp(s) + 1);

        double[] output = ReferenceAttention.Compute(q, k, v, shape);
        double[] logSumExp = ReferenceAttention.LogSumExp(q, k, v, shape);

        Assert.That(output[0], Is.EqualTo(10 * p0 - 4 * (1 - p0)).Within(1e-12));
        Assert.That(output.Skip(1).All(x => x == 0));
        Assert.That(logSumExp[0], Is.EqualTo(Math.Log(Math.Exp(s) + 1)).Within(1e-12));
    }

    [Test]
    public void A_row_that_sees_no_key_is_zero_with_negative_infinite_log_sum_exp()
    {
        var shape = new AttentionShape(1, 1, 1, 3, 1, 32);
        var ones = Enumerable.Repeat(1f, 96).ToArray();
        var options = new AttentionOptions { Causal = true };

        double[] output = ReferenceAttention.Compute(ones, ones[..32], ones[..32], shape, options);
        double[] logSumExp = ReferenceAttention.LogSumExp(ones, ones[..32], ones[..32], shape, options);

        Assert.That(output.Take(64), Is.All.Zero);
        Assert.That(output.Skip(64), Is.All.EqualTo(1.0));
        Assert.That(logSumExp, Is.EqualTo(new[] { double.NegativeInfinity, double.NegativeInfinity, (double)(1f / MathF.Sqrt(32)) * 32 }).Within(1e-12));
    }

    [TestCase(false, -1, -1, 2, 7, true)]
    [TestCase(true, -1, -1, 2, 7, false)]   // diagonal of query 2 is key 2 + 8 - 4 = 6
    [TestCase(true, -1, -1, 2, 6, true)]
    [TestCase(false, 1, -1, 2, 4, false)]   // window left 1: keys 5 and 6
    [TestCase(false, 1, -1, 2, 5, true)]
    [TestCase(false, -1, 0, 0, 5, false)]   // window right 0: nothing after key 4
    public void Visibility_follows_FlashAttention_2s_bottom_right_formulas(bool causal, int left, int right, int query, int key, bool visible)
    {
        var shape = new AttentionShape(1, 1, 1, 4, 8, 32);
        var options = new AttentionOptions { Causal = causal, WindowLeft = left, WindowRight = right };
        Assert.That(ReferenceAttention.Visible(shape, options, 0, query, key), Is.EqualTo(visible));
    }

    [Test]
    public void Naive_fp32_attention_matches_the_double_reference_closely()
    {
        var shape = new AttentionShape(1, 2, 1, 17, 23, 64);
        float[] q = RandomTensors.Normal(shape.QueryElements, 3, x => x);
        float[] k = RandomTensors.Normal(shape.KeyValueElements, 4, x => x);
        float[] v = RandomTensors.Normal(shape.KeyValueElements, 5, x => x);

        float[] naive = NaiveAttention.Compute(q, k, v, shape, null, ElementType.Float32);

        Assert.That(AccuracyRule.MaxAbsoluteError(naive, ReferenceAttention.Compute(q, k, v, shape)), Is.LessThan(1e-5));
    }

    [Test]
    public void Naive_fp16_softmax_in_fp16_loses_accuracy_on_long_rows()
    {
        var shape = new AttentionShape(1, 1, 1, 4, 2048, 64);
        var round = NaiveAttention.RoundingOf(ElementType.Float16);
        float[] q = RandomTensors.Normal(shape.QueryElements, 4, round);
        float[] k = RandomTensors.Normal(shape.KeyValueElements, 5, round);
        float[] v = RandomTensors.Normal(shape.KeyValueElements, 6, round);
        double[] reference = ReferenceAttention.Compute(q, k, v, shape);

        double fp32Statistics = AccuracyRule.MaxAbsoluteError(NaiveAttention.Compute(q, k, v, shape, null, ElementType.Float16), reference);
        double fp16Statistics = AccuracyRule.MaxAbsoluteError(NaiveAttention.Compute(q, k, v, shape, null, ElementType.Float16, softmaxInStorageType: true), reference);

        Assert.That(fp16Statistics, Is.GreaterThan(5 * fp32Statistics));
    }
}
