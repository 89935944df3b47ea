using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Attention;

/// <summary>
/// Logit soft-capping, ALiBi and an additive bias or boolean mask broadcast over batch and heads, against the double
/// reference (which applies them from their definitions) on every CPU backend, the tensor-core emulation and with key
/// splits; and every malformed input refused by name.
/// </summary>
public class ScoreModifierTests
{
    private static readonly AttentionShape Shape = new(2, 4, 2, 37, 45, 32);

    private static float[] RandomBias(int batch, int heads, AttentionShape shape, int seed) =>
        RandomTensors.Normal((long)batch * heads * shape.QueryLength * shape.KeyLength, seed, x => x);

    private static bool[] RandomMask(int batch, int heads, AttentionShape shape, int seed)
    {
        var random = new Random(seed);
        var visible = new bool[batch * heads * shape.QueryLength * shape.KeyLength];
        for (int i = 0; i < visible.Length; i++)
            visible[i] = random.NextDouble() < 0.3;
        // Hide every key of query 3 (in each plane) so that a fully masked row is covered.
        for (int plane = 0; plane < batch * heads; plane++)
            Array.Fill(visible, false, (plane * shape.QueryLength + 3) * shape.KeyLength, shape.KeyLength);
        return visible;
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        yield return Case("softcap 2", new AttentionOptions { Softcap = 2f }, ElementType.Float32);
        yield return Case("softcap 5, causal", new AttentionOptions { Softcap = 5f, Causal = true }, ElementType.BFloat16);
        yield return Case("ALiBi per head", new AttentionOptions { AlibiSlopes = [0.5f, 0.25f, 0.125f, 0.0625f] }, ElementType.Float16);
        yield return Case("ALiBi per batch and head, causal", new AttentionOptions { Causal = true, AlibiSlopes = [.. Enumerable.Range(1, 8).Select(x => x / 16f)] }, ElementType.Float32);
        yield return Case("bias broadcast over batch and heads", new AttentionOptions { Bias = AttentionBias.FromValues(RandomBias(1, 1, Shape, 11)) }, ElementType.Float32);
        yield return Case("bias per batch", new AttentionOptions { Bias = AttentionBias.FromValues(RandomBias(2, 1, Shape, 12), batch: 2) }, ElementType.Float16);
        yield return Case("bias per head", new AttentionOptions { Bias = AttentionBias.FromValues(RandomBias(1, 4, Shape, 13), heads: 4) }, ElementType.BFloat16);
        yield return Case("bias per batch and head, window", new AttentionOptions { WindowLeft = 10, Bias = AttentionBias.FromValues(RandomBias(2, 4, Shape, 14), 2, 4) }, ElementType.Float32);
        yield return Case("boolean mask with a fully hidden row", new AttentionOptions { Bias = AttentionBias.FromMask(RandomMask(2, 1, Shape, 15), batch: 2) }, ElementType.Float16);
        yield return Case("softcap, ALiBi and a mask together, causal", new AttentionOptions
        {
            Causal = true, Softcap = 3f, AlibiSlopes = [0.3f, 0.2f, 0.1f, 0.05f], Bias = AttentionBias.FromMask(RandomMask(1, 4, Shape, 16), heads: 4),
        }, ElementType.Float32);

        static TestCaseData Case(string name, AttentionOptions options, ElementType type) =>
            new TestCaseData(new VerificationCase(name, Shape, options, type)).SetName($"Score modifiers: {name}, {type}");
    }

    [TestCaseSource(nameof(Cases))]
    public void Modified_scores_match_the_reference_on_every_CPU_backend(VerificationCase verificationCase)
    {
        foreach (var backend in TestBackend.Cpu)
            Verify.Passes(backend.Engine, verificationCase);
    }

    [TestCaseSource(nameof(Cases))]
    public void Modified_scores_with_key_splits_match_the_reference(VerificationCase verificationCase)
    {
        var engine = TestBackend.Warp32.Engine;
        Verify.Passes(engine, verificationCase, new ExecutionPlan(PortableTilePlanner.PlanForward(Shape, engine.Facts), 2));
    }

    [Test]
    public void Modified_scores_on_the_tensor_core_kernel_match_the_reference()
    {
        var options = new AttentionOptions
        {
            Causal = true, Softcap = 4f, AlibiSlopes = [0.3f, 0.2f, 0.1f, 0.05f], Bias = AttentionBias.FromValues(RandomBias(2, 1, Shape, 21), batch: 2),
        };
        foreach (var type in new[] { ElementType.Float16, ElementType.BFloat16 })
        {
            var verificationCase = new VerificationCase("modified", Shape, options, type);
            Verify.Passes(TestBackend.TensorCores.Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(1, 2, 16, 32)));
            Verify.Passes(TestBackend.TensorCores.Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(2, 1, 16, 32), 2));
        }
    }

    [Test]
    public void Decode_with_ALiBi_keeps_each_query_heads_own_slope()
    {
        var shape = new AttentionShape(2, 8, 2, 1, 50, 32);
        var verificationCase = new VerificationCase("decode ALiBi", shape,
            new AttentionOptions { Causal = true, AlibiSlopes = [.. Enumerable.Range(1, 8).Select(x => x / 8f)] }, ElementType.Float16);
        foreach (var backend in TestBackend.Cpu)
            Verify.Passes(backend.Engine, verificationCase);
    }

    private static IEnumerable<TestCaseData> BadOptions()
    {
        yield return Case(new AttentionOptions { Softcap = float.NaN }, "options.Softcap must be finite and positive");
        yield return Case(new AttentionOptions { Softcap = 0f }, "options.Softcap must be finite and positive");
        yield return Case(new AttentionOptions { AlibiSlopes = [1f, 2f, 3f] }, "options.AlibiSlopes has 3 entries");
        yield return Case(new AttentionOptions { AlibiSlopes = [1f, float.NaN, 3f, 4f] }, "options.AlibiSlopes[1] is NaN");
        yield return Case(new AttentionOptions { Bias = AttentionBias.FromValues(new float[37 * 45], batch: 3) }, "options.Bias has batch 3");
        yield return Case(new AttentionOptions { Bias = AttentionBias.FromValues(new float[37 * 45], heads: 2) }, "options.Bias has 2 heads");
        yield return Case(new AttentionOptions { Bias = AttentionBias.FromValues(new float[37 * 45 - 1]) }, "options.Bias has 1664 values");
        yield return Case(new AttentionOptions { Bias = AttentionBias.FromValues(WithValue(float.NaN)) }, "options.Bias[7] is NaN");
        yield return Case(new AttentionOptions { Bias = AttentionBias.FromValues(WithValue(float.PositiveInfinity)) }, "options.Bias[7] is Infinity");

        static float[] WithValue(float value)
        {
            var values = new float[37 * 45];
            values[7] = value;
            return values;
        }

        static TestCaseData Case(AttentionOptions options, string expects) =>
            new TestCaseData(options, expects).SetName($"Score modifiers refused: {expects}");
    }

    [TestCaseSource(nameof(BadOptions))]
    public void Malformed_modifiers_are_refused_naming_the_argument(AttentionOptions options, string expects)
    {
        var engine = TestBackend.Cpu.First().Engine;
        var (q, k, v) = Inputs.For(Shape);
        var error = (ArgumentException)Assert.Throws(Is.InstanceOf<ArgumentException>(), () => engine.Attention(q, k, v, Shape, options))!;
        Assert.That(error.Message, Does.Contain(expects));
        Assert.That(error.ParamName, Is.EqualTo("options"));
        Inputs.AssertEngineWorks(engine);
    }

    [Test]
    public void A_bias_and_packed_sequences_do_not_combine()
    {
        var shape = new AttentionShape(1, 1, 1, 4, 4, 32);
        var (q, k, v) = Inputs.For(shape);
        var error = Assert.Throws<ArgumentException>(() => TestBackend.Cpu.First().Engine.Attention(q, k, v, shape, new AttentionOptions
        {
            QuerySequenceOffsets = [0, 4], KeySequenceOffsets = [0, 4], Bias = AttentionBias.FromValues(new float[16]),
        }))!;
        Assert.That(error.Message, Does.Contain("do not combine"));
    }

    [Test]
    public void A_bias_on_the_device_is_read_in_place_and_must_be_on_the_engines_accelerator()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var shape = new AttentionShape(1, 2, 1, 9, 13, 32);
        var values = RandomBias(1, 2, shape, 31);
        var (q, k, v) = Inputs.For(shape);
        using var bias = engine.Accelerator.Allocate1D<float>(values.Length);
        bias.View.CopyFromCPU(values);
        using var tensors = new DeviceTensors(engine, q, k, v);
        engine.Attention(tensors.Q, tensors.K, tensors.V, tensors.Output, shape, new AttentionOptions { Bias = AttentionBias.OnDevice(bias.View, heads: 2) });
        var output = new float[tensors.Output.Length];
        tensors.Output.CopyToCPU(output);
        double[] reference = ReferenceAttention.Compute(q, k, v, shape, new AttentionOptions { Bias = AttentionBias.FromValues(values, heads: 2) });
        Assert.That(AccuracyRule.MaxAbsoluteError(output, reference), Is.LessThan(1e-5));

        var other = TestBackend.Warp32.Engine;
        using var foreign = other.Accelerator.Allocate1D<float>(values.Length);
        var error = Assert.Throws<ArgumentException>(() => engine.Attention(tensors.Q, tensors.K, tensors.V, tensors.Output, shape,
            new AttentionOptions { Bias = AttentionBias.OnDevice(foreign.View, heads: 2) }))!;
        Assert.That(error.Message, Does.Contain("options.Bias"));
    }
}
