using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using Half = System.Half;

namespace TinyFlash.Tests.Attention;

/// <summary>
/// What each query sees, read straight off the kernel's output: with q = 0 the softmax is uniform over the visible
/// keys, and with value row j = the unit vector e_j, output element (i, j) is 1/|visible(i)| when key j is visible
/// to query i and 0 when it is not. The expected pattern is FlashAttention-2's, written out here independently.
/// </summary>
[TestFixtureSource(typeof(TestBackend), nameof(TestBackend.Cpu))]
public class MaskSemanticsTests(TestBackend backend)
{
    private const int HeadDim = 32;

    private bool[,] VisibleKeys(int queryLength, int keyLength, AttentionOptions options, AttentionLayout layout = AttentionLayout.Bshd)
    {
        var shape = new AttentionShape(1, 1, 1, queryLength, keyLength, HeadDim, layout);
        var q = new float[shape.QueryElements];
        var k = Inputs.For(shape).K;
        var v = new float[shape.KeyValueElements];
        for (int j = 0; j < keyLength; j++)
            v[j * HeadDim + j] = 1f;
        float[] output = backend.Engine.Attention(q, k, v, shape, options);

        var visible = new bool[queryLength, keyLength];
        for (int i = 0; i < queryLength; i++)
        {
            int count = 0;
            for (int j = 0; j < keyLength; j++)
                count += output[i * HeadDim + j] > 0 ? 1 : 0;
            for (int j = 0; j < keyLength; j++)
            {
                visible[i, j] = output[i * HeadDim + j] > 0;
                if (visible[i, j])
                    Assert.That(output[i * HeadDim + j], Is.EqualTo(1f / count).Within(1e-6f), $"query {i} weighs its keys uniformly");
            }
        }
        return visible;
    }

    private static void AssertPattern(bool[,] actual, Func<int, int, bool> expected)
    {
        for (int i = 0; i < actual.GetLength(0); i++)
        for (int j = 0; j < actual.GetLength(1); j++)
            Assert.That(actual[i, j], Is.EqualTo(expected(i, j)), $"query {i}, key {j}");
    }

    [Test]
    public void Causal_mask_aligns_bottom_right_when_queries_are_fewer_than_keys() =>
        AssertPattern(VisibleKeys(3, 8, new AttentionOptions { Causal = true }), (i, j) => j <= i + 5);

    [Test]
    public void Causal_mask_aligns_bottom_right_when_queries_are_more_than_keys() =>
        AssertPattern(VisibleKeys(8, 3, new AttentionOptions { Causal = true }), (i, j) => j <= i - 5);

    [Test]
    public void Causal_mask_on_a_square_problem_is_the_lower_triangle() =>
        AssertPattern(VisibleKeys(20, 20, new AttentionOptions { Causal = true }, AttentionLayout.Bhsd), (i, j) => j <= i);

    [TestCase(3, -1)]
    [TestCase(-1, 2)]
    [TestCase(4, 1)]
    [TestCase(0, 0)]
    public void Window_bounds_are_inclusive_around_the_bottom_right_diagonal(int left, int right) =>
        AssertPattern(VisibleKeys(9, 14, new AttentionOptions { WindowLeft = left, WindowRight = right }),
            (i, j) => (left < 0 || j >= i + 5 - left) && (right < 0 || j <= i + 5 + right));

    [Test]
    public void Causal_with_a_left_window_is_a_sliding_window_of_left_plus_one_keys() =>
        AssertPattern(VisibleKeys(25, 25, new AttentionOptions { Causal = true, WindowLeft = 6 }), (i, j) => j <= i && j >= i - 6);

    [Test]
    public void Fully_masked_rows_return_zeros_and_a_log_sum_exp_of_negative_infinity()
    {
        var shape = new AttentionShape(2, 2, 2, 40, 9, HeadDim);
        var (q, k, v) = Inputs.For(shape);
        var accelerator = backend.Engine.Accelerator;
        using var qb = accelerator.Allocate1D(q);
        using var kb = accelerator.Allocate1D(k);
        using var vb = accelerator.Allocate1D(v);
        using var ob = accelerator.Allocate1D<float>(shape.QueryElements);
        using var lse = accelerator.Allocate1D<float>(shape.LogSumExpElements);

        backend.Engine.Attention<float>(qb.View, kb.View, vb.View, ob.View, shape, new AttentionOptions { Causal = true }, lse.View);

        float[] output = ob.GetAsArray1D(), logSumExp = lse.GetAsArray1D();
        for (int b = 0; b < 2; b++)
        for (int h = 0; h < 2; h++)
        for (int i = 0; i < 40; i++)
        {
            bool masked = i < 40 - 9;
            var row = output.AsSpan(ReferenceAttention.QueryIndex(shape, b, h, i), HeadDim).ToArray();
            Assert.That(row.All(float.IsFinite), $"row {i} is finite");
            Assert.That(row.All(x => x == 0), Is.EqualTo(masked), $"row {i} is zero exactly when it sees no key");
            Assert.That(float.IsNegativeInfinity(logSumExp[(b * 2 + h) * 40 + i]), Is.EqualTo(masked), $"log-sum-exp of row {i}");
        }
    }

    [Test]
    public void Grouped_query_heads_read_their_own_key_value_head()
    {
        var shape = new AttentionShape(1, 6, 3, 5, 7, HeadDim);
        var (q, k, _) = Inputs.For(shape);
        var v = new float[shape.KeyValueElements];
        for (int j = 0; j < 7; j++)
        for (int g = 0; g < 3; g++)
            v[(j * 3 + g) * HeadDim] = g + 1; // feature 0 of every value of key/value head g is g + 1

        float[] output = backend.Engine.Attention(q, k, v, shape);

        for (int i = 0; i < 5; i++)
        for (int h = 0; h < 6; h++)
            Assert.That(output[(i * 6 + h) * HeadDim], Is.EqualTo(h / 2 + 1).Within(1e-5f), $"query head {h} reads key/value head {h / 2}");
    }

    [Test]
    public void Both_layouts_compute_the_same_attention()
    {
        var bshd = new AttentionShape(2, 4, 2, 33, 47, 64);
        var bhsd = bshd with { Layout = AttentionLayout.Bhsd };
        var (q, k, v) = Inputs.For(bshd);
        var options = new AttentionOptions { Causal = true, WindowLeft = 10 };

        float[] fromBshd = backend.Engine.Attention(q, k, v, bshd, options);
        float[] fromBhsd = backend.Engine.Attention(ToBhsd(q, bshd.QueryHeads, 33), ToBhsd(k, 2, 47), ToBhsd(v, 2, 47), bhsd, options);

        Assert.That(ToBhsd(fromBshd, 4, 33), Is.EqualTo(fromBhsd).Within(1e-6f));

        static float[] ToBhsd(float[] x, int heads, int length)
        {
            var y = new float[x.Length];
            for (int b = 0; b < 2; b++)
            for (int s = 0; s < length; s++)
            for (int h = 0; h < heads; h++)
                Array.Copy(x, ((b * length + s) * heads + h) * 64, y, ((b * heads + h) * length + s) * 64, 64);
            return y;
        }
    }

    [Test]
    public void Large_scores_do_not_overflow_the_softmax()
    {
        var shape = new AttentionShape(1, 2, 2, 65, 129, 64);
        var (q, k, v) = Inputs.For(shape);
        var options = new AttentionOptions { Scale = 50f };

        float[] output = backend.Engine.Attention(q, k, v, shape, options);

        // Scores reach several hundred here; rounding a score s to fp32 moves exp(s) by about ε·|s| relative,
        // so the attainable accuracy is that, not the 1e-5 of well-scaled inputs.
        double largestScore = 0;
        for (int i = 0; i < 65; i++)
        for (int j = 0; j < 129; j++)
        for (int h = 0; h < 2; h++)
        {
            double dot = 0;
            for (int d = 0; d < 64; d++)
                dot += (double)q[(i * 2 + h) * 64 + d] * k[(j * 2 + h) * 64 + d];
            largestScore = Math.Max(largestScore, Math.Abs(dot * 50));
        }
        var (error, _) = AccuracyRule.Measure(ElementType.Float32, output, ReferenceAttention.Compute(q, k, v, shape, options), []);
        Assert.That(output.All(float.IsFinite));
        Assert.That(largestScore, Is.GreaterThan(200), "the scores are large");
        Assert.That(error, Is.LessThan(1e-5 + 4 * Math.ScaleB(1, -24) * largestScore));
    }

    [Test]
    public void The_host_overloads_of_every_storage_type_agree_with_the_reference()
    {
        var shape = new AttentionShape(1, 2, 1, 37, 70, 96);
        var (q, k, v) = Inputs.For(shape);
        var options = new AttentionOptions { Causal = true };

        Half[] half = backend.Engine.Attention(Array.ConvertAll(q, x => (Half)x), Array.ConvertAll(k, x => (Half)x),
            Array.ConvertAll(v, x => (Half)x), shape, options);
        BFloat16[] brain = backend.Engine.Attention(Array.ConvertAll(q, x => (BFloat16)x), Array.ConvertAll(k, x => (BFloat16)x),
            Array.ConvertAll(v, x => (BFloat16)x), shape, options);

        AssertWithinRule(ElementType.Float16, Array.ConvertAll(half, x => (float)x));
        AssertWithinRule(ElementType.BFloat16, Array.ConvertAll(brain, x => (float)x));

        void AssertWithinRule(ElementType type, float[] output)
        {
            var round = NaiveAttention.RoundingOf(type);
            float[] rq = Array.ConvertAll(q, x => round(x)), rk = Array.ConvertAll(k, x => round(x)), rv = Array.ConvertAll(v, x => round(x));
            var (error, bound) = AccuracyRule.Measure(type, output, ReferenceAttention.Compute(rq, rk, rv, shape, options),
                NaiveAttention.Compute(rq, rk, rv, shape, options, type));
            Assert.That(error, Is.LessThanOrEqualTo(bound), $"{type}: error {error:E3}, bound {bound:E3}");
        }
    }
}
