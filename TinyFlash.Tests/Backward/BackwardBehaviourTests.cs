using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Backward;

/// <summary>
/// What the matrix does not show: the closed form against central finite differences, dropout's mask shared by the
/// forward, the reference and the backward (and its kept fraction), bit-identical deterministic gradients, the
/// backward tile planner's limits, and bad input refused by name with the engine still working after.
/// </summary>
public class BackwardBehaviourTests
{
    private static readonly AttentionShape Tiny = new(1, 2, 1, 5, 7, 32);

    private static IEnumerable<TestCaseData> FiniteDifferenceCases()
    {
        yield return new TestCaseData(new AttentionOptions()).SetName("Finite differences: no mask");
        yield return new TestCaseData(new AttentionOptions { Causal = true, Softcap = 2f, AlibiSlopes = [0.3f, 0.1f] }).SetName("Finite differences: causal, softcap, ALiBi");
        yield return new TestCaseData(new AttentionOptions { WindowLeft = 2, WindowRight = 1, DropoutProbability = 0.3f, DropoutSeed = 4 }).SetName("Finite differences: window, dropout");
    }

    [TestCaseSource(nameof(FiniteDifferenceCases))]
    public void The_kernels_gradients_match_central_finite_differences_of_the_double_forward(AttentionOptions options)
    {
        var engine = TestBackend.Cpu.First().Engine;
        var (q, k, v) = Inputs.For(Tiny, seed: 31);
        float[] gradOutput = RandomTensors.Normal(Tiny.QueryElements, 34, x => x);
        float[] output = engine.Attention(q, k, v, Tiny, options, out float[] logSumExp);
        var gradients = engine.AttentionBackward(q, k, v, output, gradOutput, logSumExp, Tiny, options);

        double Loss() => ReferenceAttention.Compute(q, k, v, Tiny, options).Select((o, i) => o * gradOutput[i]).Sum();
        void Check(float[] tensor, float[] kernel, string name)
        {
            for (int i = 0; i < tensor.Length; i++)
            {
                float saved = tensor[i];
                const float h = 1e-2f;
                tensor[i] = saved + h;
                double plus = Loss();
                tensor[i] = saved - h;
                double minus = Loss();
                tensor[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.That(kernel[i], Is.EqualTo(numeric).Within(2e-3 * Math.Max(1, Math.Abs(numeric))), $"{name}[{i}]");
            }
        }
        Check(q, gradients.GradQuery, "dq");
        Check(k, gradients.GradKey, "dk");
        Check(v, gradients.GradValue, "dv");
    }

    [Test]
    public void The_forward_drops_exactly_the_references_mask_on_every_CPU_backend()
    {
        var shape = new AttentionShape(2, 2, 1, 19, 23, 32, AttentionLayout.Bhsd);
        var options = new AttentionOptions { Causal = true, DropoutProbability = 0.4f, DropoutSeed = 99, DropoutOffset = 12345678901 };
        var (q, k, v) = Inputs.For(shape);
        double[] reference = ReferenceAttention.Compute(q, k, v, shape, options);
        foreach (var backend in TestBackend.Cpu)
        {
            float[] output = backend.Engine.Attention(q, k, v, shape, options);
            var (error, bound) = AccuracyRule.Measure(ElementType.Float32, output, reference, []);
            Assert.That(error, Is.LessThanOrEqualTo(bound), $"{backend}");
        }
        // And the mask matters: the same call without dropout is far from it.
        var (withoutError, _) = AccuracyRule.Measure(ElementType.Float32, TestBackend.Cpu.First().Engine.Attention(q, k, v, shape,
            options with { DropoutProbability = 0 }), reference, []);
        Assert.That(withoutError, Is.GreaterThan(1e-2));
    }

    [Test]
    public void Dropout_keeps_one_minus_p_of_the_probabilities_and_p_0_is_exactly_no_dropout()
    {
        const float p = 0.3f;
        const double DroppedAt8Bits = 77 / 256.0; // p at the stream's resolution, rounded up: ⌈0.3·256⌉/256
        var options = new AttentionOptions { DropoutProbability = p, DropoutSeed = 5, DropoutOffset = 2 };
        var rows = new AttentionShape(1, 1, 1, 200, 500, 32);
        int kept = 0, total = 0;
        for (int row = 0; row < 200; row++)
            for (int key = 0; key < 500; key++, total++)
                if (ReferenceAttention.DropoutFactor(rows, options, 0, 0, row, key) != 0)
                {
                    kept++;
                    Assert.That(ReferenceAttention.DropoutFactor(rows, options, 0, 0, row, key), Is.EqualTo(1 / (1 - DroppedAt8Bits)).Within(1e-12));
                }
        // 100000 Bernoulli(0.7) draws: the standard deviation of the fraction is 0.0014.
        Assert.That(kept / (double)total, Is.EqualTo(1 - DroppedAt8Bits).Within(0.006));

        var engine = TestBackend.Cpu.First().Engine;
        var (q, k, v) = Inputs.For(Tiny);
        Assert.That(engine.Attention(q, k, v, Tiny, new AttentionOptions { DropoutProbability = 0f, DropoutSeed = 77 }),
            Is.EqualTo(engine.Attention(q, k, v, Tiny)));
    }

    [Test]
    public void Deterministic_gradients_are_bit_identical_from_run_to_run()
    {
        var engine = TestBackend.Warp32.Engine;
        var shape = new AttentionShape(1, 4, 2, 70, 90, 32);
        var options = new AttentionOptions { Causal = true, DeterministicBackward = true, DropoutProbability = 0.1f, DropoutSeed = 3 };
        var (q, k, v) = Inputs.For(shape);
        float[] gradOutput = RandomTensors.Normal(shape.QueryElements, 8, x => x);
        float[] output = engine.Attention(q, k, v, shape, options, out float[] logSumExp);
        var first = engine.AttentionBackward(q, k, v, output, gradOutput, logSumExp, shape, options);
        for (int run = 0; run < 3; run++)
        {
            var again = engine.AttentionBackward(q, k, v, output, gradOutput, logSumExp, shape, options);
            Assert.That(again.GradQuery, Is.EqualTo(first.GradQuery));
            Assert.That(again.GradKey, Is.EqualTo(first.GradKey));
            Assert.That(again.GradValue, Is.EqualTo(first.GradValue));
        }
        // The atomic path computes the same gradients up to summation order.
        var atomic = engine.AttentionBackward(q, k, v, output, gradOutput, logSumExp, shape, options with { DeterministicBackward = false });
        Assert.That(atomic.GradQuery, Is.EqualTo(first.GradQuery).Within(1e-4f));
        Assert.That(atomic.GradKey, Is.EqualTo(first.GradKey));
    }

    [Test]
    public void WarmupBackward_compiles_every_kernel_the_call_then_runs()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var shape = new AttentionShape(1, 2, 1, 9, 11, 96);
        var options = new AttentionOptions { WindowLeft = 3, AlibiSlopes = [0.1f, 0.2f], DeterministicBackward = true };
        engine.Warmup(shape, options, ElementType.BFloat16);
        engine.WarmupBackward(shape, options, ElementType.BFloat16);
        int compiled = engine.CompiledKernels;
        Assert.That(engine.WarmupBackward(shape, options, ElementType.BFloat16), Is.LessThan(TimeSpan.FromSeconds(1)));
        var (q, k, v) = Inputs.For(shape);
        var b = (float[] x) => Array.ConvertAll(x, a => (BFloat16)a);
        var output = engine.Attention(b(q), b(k), b(v), shape, options, out float[] logSumExp);
        engine.AttentionBackward(b(q), b(k), b(v), output, output, logSumExp, shape, options);
        Assert.That(engine.CompiledKernels, Is.EqualTo(compiled), "nothing left to compile at the first call");
    }

    [Test]
    public void The_backward_tile_fits_every_device_and_is_32_on_the_H100()
    {
        Assert.That(BackwardTilePlanner.Plan(new AttentionShape(1, 16, 16, 4096, 4096, 128), DeviceFacts.H100).BlockM, Is.EqualTo(32));
        var small = new DeviceFacts("48 KiB OpenCL", AcceleratorType.OpenCL, 32, 256, 48 * 1024, 16, 64 * 1024, int.MaxValue, 2048);
        foreach (int d in new[] { 32, 64, 80, 96, 128, 160, 192, 256 })
            foreach (var device in new[] { DeviceFacts.H100, small })
            {
                var plan = BackwardTilePlanner.Plan(new AttentionShape(1, 1, 1, 100, 100, d), device);
                Assert.That(BackwardTilePlanner.SharedBytes(plan), Is.LessThanOrEqualTo(device.MaxSharedMemoryPerGroup), $"d{d} {device.Name}");
                Assert.That(plan.Threads, Is.LessThanOrEqualTo(device.MaxGroupSize));
            }
        Assert.That(BackwardTilePlanner.Plan(new AttentionShape(1, 1, 1, 100, 100, 256), small).BlockM, Is.EqualTo(8));
        var tiny = small with { MaxSharedMemoryPerGroup = 4096 };
        Assert.Throws<NotSupportedException>(() => BackwardTilePlanner.Plan(new AttentionShape(1, 1, 1, 100, 100, 256), tiny));
    }

    [Test]
    public void Bad_backward_input_is_refused_naming_the_argument_and_the_engine_still_works()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var shape = Tiny;
        var (q, k, v) = Inputs.For(shape);
        float[] gradOutput = new float[shape.QueryElements];
        float[] output = engine.Attention(q, k, v, shape, null, out float[] logSumExp);

        Assert.That(Assert.Throws<ArgumentException>(() => engine.AttentionBackward(q, k, v, output, gradOutput, logSumExp[1..], shape))!.ParamName,
            Is.EqualTo("logSumExp"));
        Assert.That(Assert.Throws<ArgumentException>(() => engine.AttentionBackward(q, k, v, output[1..], gradOutput, logSumExp, shape))!.ParamName,
            Is.EqualTo("output"));
        Assert.That(Assert.Throws<ArgumentException>(() => engine.AttentionBackward(q, k, v, output, gradOutput[1..], logSumExp, shape))!.ParamName,
            Is.EqualTo("gradOutput"));
        var certain = Assert.Throws<ArgumentOutOfRangeException>(() => engine.AttentionBackward(q, k, v, output, gradOutput, logSumExp, shape,
            new AttentionOptions { DropoutProbability = 1f }))!;
        Assert.That(certain.ParamName, Is.EqualTo("options"));
        Assert.That(certain.Message, Does.Contain("DropoutProbability"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => engine.Attention(q, k, v, shape,
            new AttentionOptions { DropoutProbability = float.NaN }))!.ParamName, Is.EqualTo("options"));

        // Device views: a missing log-sum-exp, and gradients aliasing an input or each other.
        var accelerator = engine.Accelerator;
        using var qBuffer = accelerator.Allocate1D(q);
        using var kBuffer = accelerator.Allocate1D(k);
        using var vBuffer = accelerator.Allocate1D(v);
        using var outputBuffer = accelerator.Allocate1D(output);
        using var gradOutputBuffer = accelerator.Allocate1D(gradOutput);
        using var lseBuffer = accelerator.Allocate1D(logSumExp);
        using var gradients = accelerator.Allocate1D<float>(shape.QueryElements + 2 * shape.KeyValueElements);
        var gq = gradients.View.SubView(0, shape.QueryElements);
        var gk = gradients.View.SubView(shape.QueryElements, shape.KeyValueElements);
        var gv = gradients.View.SubView(shape.QueryElements + shape.KeyValueElements, shape.KeyValueElements);
        Assert.That(Assert.Throws<ArgumentNullException>(() => engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View,
            gradOutputBuffer.View, default, gq, gk, gv, shape))!.ParamName, Is.EqualTo("logSumExp"));
        Assert.That(Assert.Throws<ArgumentException>(() => engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View,
            gradOutputBuffer.View, lseBuffer.View, qBuffer.View, gk, gv, shape))!.ParamName, Is.EqualTo("gradQuery"));
        Assert.That(Assert.Throws<ArgumentException>(() => engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View,
            gradOutputBuffer.View, lseBuffer.View, gq, gk, gradients.View.SubView(shape.QueryElements + 1, shape.KeyValueElements), shape))!.ParamName,
            Is.EqualTo("gradKey"));

        // A seed (or probability) other than the forward's: detected from the log-sum-exp tensor the forward wrote.
        var dropout = new AttentionOptions { DropoutProbability = 0.2f, DropoutSeed = 1 };
        using var droppedLse = accelerator.Allocate1D<float>(shape.LogSumExpElements);
        engine.Attention<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View, shape, dropout, droppedLse.View);
        var mismatch = Assert.Throws<ArgumentException>(() => engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View,
            outputBuffer.View, gradOutputBuffer.View, droppedLse.View, gq, gk, gv, shape, dropout with { DropoutSeed = 2 }))!;
        Assert.That(mismatch.ParamName, Is.EqualTo("options"));
        Assert.That(mismatch.Message, Does.Contain("seed 1"));
        Assert.That(Assert.Throws<ArgumentException>(() => engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View,
            outputBuffer.View, gradOutputBuffer.View, droppedLse.View, gq, gk, gv, shape))!.ParamName, Is.EqualTo("options"));
        engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View, gradOutputBuffer.View, droppedLse.View,
            gq, gk, gv, shape, dropout);
        // A record never outlives its buffer: memory freed and allocated again is unknown, not the old forward's.
        var freed = accelerator.Allocate1D<float>(shape.LogSumExpElements);
        engine.Attention<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View, shape, dropout, freed.View);
        freed.Dispose();
        using var reused = accelerator.Allocate1D(logSumExp);
        engine.Attention<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View, shape, null);
        Assert.DoesNotThrow(() => engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View,
            gradOutputBuffer.View, reused.View, gq, gk, gv, shape));

        // After all that, forward and backward still compute correctly.
        engine.AttentionBackward<float>(qBuffer.View, kBuffer.View, vBuffer.View, outputBuffer.View, gradOutputBuffer.View, lseBuffer.View, gq, gk, gv, shape);
        var reference = ReferenceAttention.Backward(q, k, v, gradOutput, shape);
        Assert.That(gv.GetAsArray1D(), Is.EqualTo(Array.ConvertAll(reference.GradValue, x => (float)x)).Within(1e-5f));
        Inputs.AssertEngineWorks(engine);
    }
}
