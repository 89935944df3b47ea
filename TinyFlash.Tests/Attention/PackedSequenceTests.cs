using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Attention;

/// <summary>
/// Packed variable-length sequences (cumulative offsets, as FlashAttention's varlen functions take them): no attention
/// across a boundary, masks aligned within each sequence, empty sequences, against the double reference on every CPU
/// backend, the tensor-core emulation and with key splits; and every malformed offset list refused by name.
/// </summary>
public class PackedSequenceTests
{
    private static readonly int[] Queries = [0, 1, 1, 38, 100];
    private static readonly int[] Keys = [0, 5, 5, 40, 130];

    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (var type in Enum.GetValues<ElementType>())
        {
            yield return Case("causal, GQA", new(1, 4, 2, 100, 130, 32), new AttentionOptions { Causal = true }, type);
            yield return Case("no mask, Bhsd", new(1, 2, 2, 100, 130, 64, AttentionLayout.Bhsd), AttentionOptions.Default, type);
        }
        yield return Case("sliding window", new(1, 2, 1, 100, 130, 32), new AttentionOptions { WindowLeft = 7, WindowRight = 2 }, ElementType.Float16);

        static TestCaseData Case(string name, AttentionShape shape, AttentionOptions options, ElementType type) =>
            new TestCaseData(new VerificationCase(name, shape,
                    options with { QuerySequenceOffsets = Queries, KeySequenceOffsets = Keys }, type))
                .SetName($"Packed sequences ({string.Join(",", Queries)} / {string.Join(",", Keys)}): {name}, {type}");
    }

    [TestCaseSource(nameof(Cases))]
    public void Packed_sequences_match_the_reference_on_every_CPU_backend(VerificationCase verificationCase)
    {
        foreach (var backend in TestBackend.Cpu)
            Verify.Passes(backend.Engine, verificationCase);
    }

    [TestCaseSource(nameof(Cases))]
    public void Packed_sequences_with_key_splits_match_the_reference(VerificationCase verificationCase)
    {
        var engine = TestBackend.Warp32.Engine;
        var tile = PortableTilePlanner.PlanForward(verificationCase.Shape, engine.Facts);
        Verify.Passes(engine, verificationCase, new ExecutionPlan(tile, 3));
    }

    [Test]
    public void Packed_sequences_on_the_tensor_core_kernel_match_the_reference()
    {
        var verificationCase = new VerificationCase("packed", new AttentionShape(1, 2, 1, 100, 130, 32),
            new AttentionOptions { Causal = true, QuerySequenceOffsets = Queries, KeySequenceOffsets = Keys }, ElementType.BFloat16);
        Verify.Passes(TestBackend.TensorCores.Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(1, 2, 16, 32)));
        Verify.Passes(TestBackend.TensorCores.Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(1, 1, 16, 32), 2));
    }

    [Test]
    public void A_sequence_sees_only_its_own_keys()
    {
        // Two sequences of one query and one key each; the second key is huge, so any leak across the boundary shows.
        var shape = new AttentionShape(1, 1, 1, 2, 2, 32);
        var q = Enumerable.Repeat(1f, 64).ToArray();
        var k = Enumerable.Repeat(1f, 64).ToArray();
        var v = Enumerable.Range(0, 64).Select(x => x < 32 ? 1f : 1000f).ToArray();
        float[] output = TestBackend.Cpu.First().Engine.Attention(q, k, v, shape,
            new AttentionOptions { QuerySequenceOffsets = [0, 1, 2], KeySequenceOffsets = [0, 1, 2] });
        Assert.That(output.Take(32), Is.All.EqualTo(1f).Within(1e-5));
        Assert.That(output.Skip(32), Is.All.EqualTo(1000f).Within(1e-2));
    }

    private static IEnumerable<TestCaseData> BadOffsets()
    {
        var shape = new AttentionShape(1, 2, 1, 10, 12, 32);
        yield return Case(shape, [0, 4, 10], null, "set both or neither");
        yield return Case(shape, [1, 4, 10], [0, 6, 12], "options.QuerySequenceOffsets[0] is 1");
        yield return Case(shape, [0, 6, 4, 10], [0, 6, 8, 12], "options.QuerySequenceOffsets[2] is 4, below");
        yield return Case(shape, [0, 4, 11], [0, 6, 12], "must end at the packed tensor's length, shape.QueryLength = 10");
        yield return Case(shape, [0, 4, 10], [0, 6, 11], "must end at the packed tensor's length, shape.KeyLength = 12");
        yield return Case(shape, [0, 4, 10], [0, 12], "the same number");
        yield return Case(shape, [0], [0], "at least 2");
        yield return Case(shape with { Batch = 2 }, [0, 4, 10], [0, 6, 12], "shape.Batch must be 1");

        static TestCaseData Case(AttentionShape shape, int[] queries, int[]? keys, string expects) =>
            new TestCaseData(shape, queries, keys, expects).SetName($"Packed offsets q [{string.Join(",", queries)}] k [{string.Join(",", keys ?? [])}] are refused ({expects})");
    }

    [TestCaseSource(nameof(BadOffsets))]
    public void Malformed_offsets_are_refused_naming_the_argument(AttentionShape shape, int[] queries, int[]? keys, string expects)
    {
        var engine = TestBackend.Cpu.First().Engine;
        var (q, k, v) = Inputs.For(shape);
        var error = (ArgumentException)Assert.Throws(Is.InstanceOf<ArgumentException>(), () => engine.Attention(q, k, v, shape,
            new AttentionOptions { QuerySequenceOffsets = queries, KeySequenceOffsets = keys }))!;
        Assert.That(error.Message, Does.Contain(expects));
        Assert.That(error.ParamName, Is.EqualTo("options"));
        Inputs.AssertEngineWorks(engine);
    }

    [Test]
    public void Packed_sequences_and_cache_lengths_do_not_combine()
    {
        var shape = new AttentionShape(1, 1, 1, 4, 4, 32);
        var (q, k, v) = Inputs.For(shape);
        var error = Assert.Throws<ArgumentException>(() => TestBackend.Cpu.First().Engine.Attention(q, k, v, shape,
            new AttentionOptions { QuerySequenceOffsets = [0, 4], KeySequenceOffsets = [0, 4], CacheLengths = [4] }))!;
        Assert.That(error.Message, Does.Contain("do not combine"));
    }
}
