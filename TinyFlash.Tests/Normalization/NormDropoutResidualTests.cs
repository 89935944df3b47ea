using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Normalization;
using TinyFlash.Numerics;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;
using Half = System.Half;

namespace TinyFlash.Tests.Normalization;

/// <summary>
/// The fused <c>Norm(dropout(x + bias) + residual)</c> against the double reference on every CPU backend, every dtype,
/// hidden sizes from 1 to 65536 (not multiples of a warp), LayerNorm and RMSNorm, with and without dropout; the
/// dropout mask bit-identical to the host's Philox stream, its kept fraction and scaling; and every bad input refused
/// by name.
/// </summary>
public class NormDropoutResidualTests
{
    private static (float[] X, float[] Residual, float[] Bias, float[] Gamma, float[] Beta) Inputs(int rows, int hidden, ElementType type, int seed = 3)
    {
        var round = NaiveAttention.RoundingOf(type);
        return (RandomTensors.Normal((long)rows * hidden, seed, round), RandomTensors.Normal((long)rows * hidden, seed + 1, round),
            RandomTensors.Normal(hidden, seed + 2, round), RandomTensors.Normal(hidden, seed + 3, x => round(1 + x / 4)),
            RandomTensors.Normal(hidden, seed + 4, round));
    }

    private static IEnumerable<TestCaseData> Cases() =>
        NormVerifier.Matrix().Select(c => new TestCaseData(c).SetName($"Forward and backward: {c}"));

    [TestCaseSource(nameof(Cases))]
    public void Forward_and_backward_match_the_double_reference_on_every_CPU_backend(NormCase c)
    {
        foreach (var backend in TestBackend.Cpu)
        {
            var failed = NormVerifier.Run(backend.Engine, c).Where(check => !check.Passed).Select(check => $"{check.Quantity} {check.Error:E2} > {check.Bound:E2}");
            Assert.That(failed, Is.Empty, backend.ToString());
        }
    }

    [Test]
    public void Group_sizes_are_powers_of_two_within_the_compiled_kernels_limit_and_quads_cover_the_row()
    {
        // A kernel whose registers allow 736 threads a group runs 512.
        Assert.That(NormDropoutResidual.GroupSize(16384, DeviceFacts.H100, 736, NormDropoutResidual.BackwardFeaturesPerThread), Is.EqualTo(512));
        Assert.That(NormDropoutResidual.ForcedGroupSize(1024, DeviceFacts.H100, 736), Is.EqualTo(512), "a forced size is rounded down, not clamped to 736");
        Assert.That(NormDropoutResidual.ForcedGroupSize(128, DeviceFacts.H100, 736), Is.EqualTo(128));
        Assert.That(NormDropoutResidual.GroupSize(1, DeviceFacts.H100, 1024, NormDropoutResidual.ForwardFeaturesPerThread), Is.EqualTo(32), "at least a warp");
        Assert.That(NormDropoutResidual.GroupSize(4096, DeviceFacts.H100, 1024, NormDropoutResidual.ForwardFeaturesPerThread), Is.EqualTo(128));
        Assert.That(NormDropoutResidual.GroupSize(65536, DeviceFacts.H100, 1024, NormDropoutResidual.ForwardFeaturesPerThread), Is.EqualTo(1024));

        Assert.That(NormDropoutResidual.QuadsPerThread(4096, 256), Is.EqualTo(4), "16 features a thread: one chunk");
        Assert.That(NormDropoutResidual.QuadsPerThread(1000, 64), Is.EqualTo(4), "1024 features held for 1000");
        Assert.That(NormDropoutResidual.QuadsPerThread(33, 32), Is.EqualTo(1));
        Assert.That(NormDropoutResidual.QuadsPerThread(65536, 1024), Is.EqualTo(NormDropoutResidual.MaxQuadsPerThread), "two chunks of 32768");
    }

    [Test]
    public void Exact_shapes_cover_the_row_with_whole_warps_and_prefer_the_planned_features_a_thread()
    {
        (int, int)[] Shapes(int hidden, int limit = 1024, bool powerOfTwo = false, int features = NormDropoutResidual.ForwardFeaturesPerThread) =>
            NormDropoutResidual.ExactShapes(hidden, 32, limit, powerOfTwo, features).ToArray();
        Assert.That(Shapes(4096), Is.EqualTo(new[] { (128, 8), (256, 4), (512, 2), (1024, 1) }));
        Assert.That(Shapes(768), Is.EqualTo(new[] { (96, 2), (192, 1) }), "three warps of 2 quads: 48 threads of 4 are not whole warps");
        Assert.That(Shapes(5120)[0], Is.EqualTo((160, 8)), "five warps");
        Assert.That(Shapes(5120, features: 16)[0], Is.EqualTo((320, 4)));
        Assert.That(Shapes(4096, limit: 128), Is.EqualTo(new[] { (128, 8) }), "within the kernel's limit");
        Assert.That(Shapes(768, powerOfTwo: true), Is.Empty, "the shared-memory tree halves its group");
        Assert.That(Shapes(1000), Is.Empty);
        Assert.That(Shapes(65536), Is.Empty, "longer than a chunk");
        Assert.That(Shapes(4096, features: NormDropoutResidual.BackwardFeaturesPerThread)[0], Is.EqualTo((256, 4)), "the backward");
    }

    [Test]
    public void Dropout_zero_is_exactly_no_dropout_and_the_optional_inputs_can_be_absent()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var (x, residual, bias, gamma, beta) = Inputs(4, 77, ElementType.Float32);
        var plain = engine.LayerNormDropoutResidual(x, residual, bias, gamma, beta, 77);
        var zero = engine.LayerNormDropoutResidual(x, residual, bias, gamma, beta, 77, new NormOptions { DropoutProbability = 0f, Seed = 5 });
        Assert.That(zero.Output, Is.EqualTo(plain.Output), "bit for bit");

        var bare = engine.LayerNormDropoutResidual(x, [], [], gamma, [], 77);
        var expected = NormReference.Compute(x, [], [], gamma, [], 77, NormOptions.Default);
        Assert.That(NormVerifier.StorageSteps(bare.Output, expected.Output, ElementType.Float32), Is.LessThanOrEqualTo(4));
    }

    [Test]
    public void The_dropout_mask_is_the_host_Philox_stream_keeps_one_minus_p_and_scales_by_its_inverse()
    {
        var engine = TestBackend.Cpu.First().Engine;
        const int rows = 32, hidden = 1024;
        const float p = 0.3f;
        var x = Enumerable.Repeat(2f, rows * hidden).ToArray();
        var gamma = Enumerable.Repeat(1f, hidden).ToArray();
        var options = new NormOptions { DropoutProbability = p, Seed = 0xDEADBEEFCAFEUL, Offset = 12345 };
        var result = engine.LayerNormDropoutResidual(x, [], [], gamma, [], hidden, options);

        int kept = 0;
        for (int e = 0; e < x.Length; e++)
        {
            bool keep = Philox.Uniform(options.Seed, options.Offset, e) >= p;
            Assert.That(result.Sum[e], Is.EqualTo(keep ? 2f / (1 - p) : 0f).Within(1e-6), $"element {e}");
            kept += keep ? 1 : 0;
        }
        Assert.That(kept / (double)x.Length, Is.EqualTo(1 - p).Within(0.01));
        var another = engine.LayerNormDropoutResidual(x, [], [], gamma, [], hidden, options with { Offset = 12346 });
        Assert.That(another.Sum, Is.Not.EqualTo(result.Sum), "another offset draws another mask");
    }

    [Test]
    public void Device_views_that_do_not_start_on_a_quad_give_the_same_result_as_aligned_ones()
    {
        // Rows of 8 features move as whole vector quads only from views aligned to four elements; x one element in
        // takes the scalar path and must agree with the aligned call bit for bit.
        var engine = TestBackend.Cpu.First().Engine;
        const int hidden = 8, rows = 3;
        float[] values = RandomTensors.Normal(rows * hidden + 1, 7, v => v);
        float[] gamma = RandomTensors.Normal(hidden, 8, v => v);
        using var shifted = engine.Accelerator.Allocate1D(values);
        using var aligned = engine.Accelerator.Allocate1D(values[1..]);
        using var gammaBuffer = engine.Accelerator.Allocate1D(gamma);
        using var outputs = engine.Accelerator.Allocate1D<float>(2 * rows * hidden);
        var options = new NormOptions { DropoutProbability = 0.25f, Seed = 3 };
        engine.LayerNormDropoutResidual<float>(shifted.View.SubView(1, rows * hidden), default, default, gammaBuffer.View, default,
            outputs.View.SubView(0, rows * hidden), hidden, options);
        engine.LayerNormDropoutResidual<float>(aligned.View, default, default, gammaBuffer.View, default,
            outputs.View.SubView(rows * hidden, rows * hidden), hidden, options);
        float[] both = outputs.GetAsArray1D();
        Assert.That(both[..(rows * hidden)], Is.EqualTo(both[(rows * hidden)..]));
    }

    [Test]
    public void On_device_views_an_output_overlapping_an_input_or_short_statistics_are_refused()
    {
        var engine = TestBackend.Cpu.First().Engine;
        using var x = engine.Accelerator.Allocate1D<float>(64);
        using var gamma = engine.Accelerator.Allocate1D<float>(16);
        using var output = engine.Accelerator.Allocate1D<float>(64);
        using var rstd = engine.Accelerator.Allocate1D<float>(3);
        var overlap = Assert.Throws<ArgumentException>(() => engine.LayerNormDropoutResidual<float>(x.View, default, default, gamma.View, default, x.View, 16))!;
        Assert.That(overlap.Message, Does.Contain("output overlaps x"));
        var shortStatistics = Assert.Throws<ArgumentException>(() => engine.LayerNormDropoutResidual<float>(x.View, default, default, gamma.View, default,
            output.View, 16, rstd: rstd.View))!;
        Assert.That(shortStatistics.Message, Does.Contain("rstd has 3 elements"));
        Support.Inputs.AssertEngineWorks(engine);
    }

    private static IEnumerable<TestCaseData> BadInputs()
    {
        var gamma = new float[8];
        yield return Case(new float[16], new float[15], [], gamma, [], 8, NormOptions.Default, "residual has 15 elements");
        yield return Case(new float[16], [], new float[7], gamma, [], 8, NormOptions.Default, "bias has 7 elements");
        yield return Case(new float[16], [], [], new float[9], [], 8, NormOptions.Default, "gamma has 9 elements");
        yield return Case(new float[16], [], [], gamma, new float[3], 8, NormOptions.Default, "beta has 3 elements");
        yield return Case(new float[16], [], [], gamma, new float[8], 8, new NormOptions { Kind = NormKind.RmsNorm }, "RMSNorm has no beta");
        yield return Case(new float[17], [], [], gamma, [], 8, NormOptions.Default, "x has 17 elements");
        yield return Case(new float[16], [], [], [], [], 0, NormOptions.Default, "hidden must be positive");
        yield return Case(new float[16], [], [], gamma, [], 8, new NormOptions { DropoutProbability = 1f }, "must be in [0, 1)");
        yield return Case(new float[16], [], [], gamma, [], 8, new NormOptions { DropoutProbability = -0.1f }, "must be in [0, 1)");
        yield return Case(new float[16], [], [], gamma, [], 8, new NormOptions { DropoutProbability = float.NaN }, "must be in [0, 1)");
        yield return Case(new float[16], [], [], gamma, [], 8, new NormOptions { Epsilon = -1e-5f }, "options.Epsilon must be finite and at least 0");
        yield return Case(new float[16], [], [], gamma, [], 8, new NormOptions { Epsilon = float.NaN }, "options.Epsilon must be finite and at least 0");

        static TestCaseData Case(float[] x, float[] residual, float[] bias, float[] gamma, float[] beta, int hidden, NormOptions options, string expects) =>
            new TestCaseData(x, residual, bias, gamma, beta, hidden, options, expects).SetName($"Bad norm input is refused ({expects})");
    }

    [TestCaseSource(nameof(BadInputs))]
    public void Bad_input_is_refused_naming_the_argument(float[] x, float[] residual, float[] bias, float[] gamma, float[] beta, int hidden,
        NormOptions options, string expects)
    {
        var engine = TestBackend.Cpu.First().Engine;
        var error = (ArgumentException)Assert.Throws(Is.InstanceOf<ArgumentException>(),
            () => engine.LayerNormDropoutResidual(x, residual, bias, gamma, beta, hidden, options))!;
        Assert.That(error.Message, Does.Contain(expects));
        Support.Inputs.AssertEngineWorks(engine);
    }
}
