using TinyFlash.Attention;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Attention;

/// <summary>
/// Flash-decoding (each query block's keys split across groups, then merged by the combine kernel) and decode against
/// a key/value cache with per-sequence lengths, checked against the double reference (output and log-sum-exp) on
/// every CPU backend and on the tensor-core kernel's emulation, on lengths that are no multiple of any tile.
/// </summary>
public class KeySplitAndDecodeTests
{
    private static IEnumerable<TestCaseData> SplitCases()
    {
        var cases = new (string Name, AttentionShape Shape, AttentionOptions Options, ElementType Type)[]
        {
            ("odd lengths", new(2, 2, 1, 37, 203, 32), AttentionOptions.Default, ElementType.Float32),
            ("causal, fully masked rows", new(1, 2, 2, 70, 45, 64, AttentionLayout.Bhsd), new AttentionOptions { Causal = true }, ElementType.Float16),
            ("window", new(1, 3, 1, 50, 130, 32), new AttentionOptions { WindowLeft = 30, WindowRight = 7 }, ElementType.BFloat16),
            ("more splits than key tiles", new(1, 1, 1, 9, 11, 32), new AttentionOptions { Causal = true }, ElementType.Float32),
        };
        foreach (var backend in TestBackend.Cpu)
            foreach (int splits in new[] { 2, 5 })
                foreach (var (name, shape, options, type) in cases)
                    yield return new TestCaseData(backend, splits, new VerificationCase(name, shape, options, type))
                        .SetName($"{backend}, {splits} key splits, {name}, {type}");
    }

    [TestCaseSource(nameof(SplitCases))]
    public void Key_splits_merge_to_the_reference_output_and_log_sum_exp(TestBackend backend, int splits, VerificationCase verificationCase)
    {
        var engine = backend.Engine;
        var tile = PortableTilePlanner.PlanForward(verificationCase.Shape, engine.Facts);
        Verify.Passes(engine, verificationCase, new ExecutionPlan(tile, splits));
    }

    private static IEnumerable<TestCaseData> TensorCoreSplitCases()
    {
        yield return new TestCaseData("1x1x16", 3,
            new VerificationCase("causal", new(1, 2, 1, 20, 75, 32), new AttentionOptions { Causal = true }, ElementType.Float16))
            .SetName("tensor cores 1x1x16, 3 key splits, causal, fp16");
        yield return new TestCaseData("1x2x16", 2,
            new VerificationCase("window, Bhsd", new(2, 1, 1, 33, 50, 32, AttentionLayout.Bhsd),
                new AttentionOptions { WindowLeft = 12 }, ElementType.BFloat16))
            .SetName("tensor cores 1x2x16, 2 key splits, window, bf16");
    }

    [TestCaseSource(nameof(TensorCoreSplitCases))]
    public void Key_splits_on_the_tensor_core_kernel_merge_to_the_reference(string tile, int splits, VerificationCase verificationCase) =>
        Verify.Passes(TestBackend.TensorCores.Engine, verificationCase,
            new ExecutionPlan(TensorCorePlan.Parse(tile, verificationCase.Shape.HeadDim), splits));

    private static IEnumerable<TestCaseData> DecodeCases()
    {
        int[] lengths = [0, 5, 37, 61];
        foreach (var type in Enum.GetValues<ElementType>())
        {
            yield return Case("one token, GQA 4:1 (packed heads)", new(4, 8, 2, 1, 61, 64), new AttentionOptions { Causal = true, CacheLengths = lengths }, type);
            yield return Case("one token, MQA, no mask", new(4, 6, 1, 1, 61, 32, AttentionLayout.Bhsd), new AttentionOptions { CacheLengths = lengths }, type);
        }
        yield return Case("one token, left window", new(4, 4, 2, 1, 61, 32), new AttentionOptions { Causal = true, WindowLeft = 9, CacheLengths = lengths }, ElementType.Float16);
        // Several tokens of grouped heads packed as rows: position r mod n of head r / n, each row its own band; in
        // Bshd those rows are not evenly spaced in the output and go through the split workspace.
        yield return Case("4 tokens, causal, GQA 2:1", new(4, 4, 2, 4, 61, 32), new AttentionOptions { Causal = true, CacheLengths = [1, 4, 30, 61] }, ElementType.Float32);
        yield return Case("3 tokens, causal, GQA 4:1", new(3, 8, 2, 3, 45, 32), new AttentionOptions { Causal = true, CacheLengths = [2, 45, 17] }, ElementType.Float16);
        yield return Case("5 tokens, left window 7, GQA 3:1, Bhsd", new(2, 6, 2, 5, 40, 32, AttentionLayout.Bhsd), new AttentionOptions { Causal = true, WindowLeft = 7, CacheLengths = [40, 9] }, ElementType.BFloat16);
        yield return Case("2 tokens, window 3 both sides, MQA", new(2, 5, 1, 2, 30, 32), new AttentionOptions { WindowLeft = 3, WindowRight = 3 }, ElementType.Float32);
        yield return Case("16 tokens, causal, Bhsd", new(2, 2, 1, 16, 40, 32, AttentionLayout.Bhsd), new AttentionOptions { Causal = true, CacheLengths = [16, 33] }, ElementType.BFloat16);
        yield return Case("16 tokens, causal, GQA 4:1", new(1, 4, 1, 16, 70, 32), new AttentionOptions { Causal = true }, ElementType.Float16);
        yield return Case("7 tokens, no mask, an empty cache", new(2, 2, 2, 7, 20, 32), new AttentionOptions { CacheLengths = [0, 13] }, ElementType.Float32);

        static TestCaseData Case(string name, AttentionShape shape, AttentionOptions options, ElementType type) =>
            new TestCaseData(new VerificationCase(name, shape, options, type)).SetName($"Decode: {name}, {type}");
    }

    [TestCaseSource(nameof(DecodeCases))]
    public void Decode_against_caches_of_different_lengths_matches_the_reference(VerificationCase verificationCase)
    {
        foreach (var backend in TestBackend.Cpu)
            Verify.Passes(backend.Engine, verificationCase);
    }

    [TestCaseSource(nameof(DecodeCases))]
    public void Decode_with_key_splits_matches_the_reference(VerificationCase verificationCase)
    {
        var engine = TestBackend.Warp32.Engine;
        var request = engine.Forward.Request(AttentionValidator.Validate(verificationCase.Shape, verificationCase.Options), verificationCase.Type, aligned: true);
        var tile = PortableTilePlanner.PlanForward(request.Shape, engine.Facts);
        Verify.Passes(engine, verificationCase, new ExecutionPlan(tile, 3));
    }

    private static IEnumerable<TestCaseData> TensorCoreDecodeCases()
    {
        yield return new TestCaseData(new VerificationCase("one token", new AttentionShape(3, 8, 2, 1, 70, 32),
            new AttentionOptions { Causal = true, CacheLengths = [70, 0, 23] }, ElementType.Float16)).SetName("Tensor-core decode: one token");
        yield return new TestCaseData(new VerificationCase("3 tokens, Bshd", new AttentionShape(2, 8, 2, 3, 50, 32),
            new AttentionOptions { Causal = true, CacheLengths = [50, 20] }, ElementType.Float16)).SetName("Tensor-core decode: 3 tokens, Bshd");
        yield return new TestCaseData(new VerificationCase("6 tokens, window, Bhsd", new AttentionShape(2, 6, 2, 6, 45, 32, AttentionLayout.Bhsd),
            new AttentionOptions { Causal = true, WindowLeft = 20, CacheLengths = [45, 8] }, ElementType.BFloat16)).SetName("Tensor-core decode: 6 tokens, window, Bhsd");
    }

    [TestCaseSource(nameof(TensorCoreDecodeCases))]
    public void Decode_on_the_tensor_core_kernel_with_packed_heads_with_and_without_splits_matches_the_reference(VerificationCase decode)
    {
        // 16 rows a block: the packed rows of one key/value head span two blocks, one of which wraps a head.
        Verify.Passes(TestBackend.TensorCores.Engine, decode, new ExecutionPlan(new TensorCorePlan(1, 1, 16, 32), 1));
        Verify.Passes(TestBackend.TensorCores.Engine, decode, new ExecutionPlan(new TensorCorePlan(1, 1, 16, 32), 3));
    }

    [Test]
    public void Up_to_sixteen_queries_of_grouped_heads_are_launched_with_the_heads_as_rows()
    {
        var shape = new AttentionShape(8, 32, 8, 1, 4096, 128);
        var packed = LaunchShape(shape, new AttentionOptions { Causal = true });
        Assert.That((packed.QueryHeads, packed.QueryLength), Is.EqualTo((8, 4)), "each key/value head's 4 query heads become 4 rows");
        var windowed = LaunchShape(shape, new AttentionOptions { Causal = true, WindowLeft = 100 });
        Assert.That((windowed.QueryHeads, windowed.QueryLength), Is.EqualTo((8, 4)), "each row reads its own band");
        var sixteen = LaunchShape(shape with { QueryLength = 16 }, null);
        Assert.That((sixteen.QueryHeads, sixteen.QueryLength), Is.EqualTo((8, 64)), "4 heads of 16 positions");

        Assert.That(LaunchShape(shape with { QueryLength = 17 }, null).QueryHeads, Is.EqualTo(32), "prefill is not packed");
        Assert.That(LaunchShape(shape, new AttentionOptions { DropoutProbability = 0.1f }).QueryHeads, Is.EqualTo(32),
            "dropout counts rows by head");
        Assert.That(LaunchShape(shape, new AttentionOptions { Softcap = 30f }).QueryHeads, Is.EqualTo(32), "modifiers count rows by head");
        var tiny = AttentionValidator.Validate(shape with { QueryLength = 2 }, null);
        Assert.That(ForwardAttention.LaunchShape(tiny, 1024).QueryHeads, Is.EqualTo(32),
            "uneven rows need a workspace; without room for it the heads stay apart");
        Assert.That(ForwardAttention.LaunchShape(AttentionValidator.Validate(shape with { QueryLength = 2, Layout = AttentionLayout.Bhsd }, null), 1024).QueryHeads,
            Is.EqualTo(8), "evenly spaced rows need none");

        static AttentionShape LaunchShape(AttentionShape shape, AttentionOptions? options) =>
            ForwardAttention.LaunchShape(AttentionValidator.Validate(shape, options), long.MaxValue);
    }

    [Test]
    public void A_cache_length_that_hides_every_key_gives_zeros_and_minus_infinity()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var shape = new AttentionShape(2, 2, 1, 1, 9, 32);
        var (q, k, v) = Inputs.For(shape);
        float[] output = engine.Attention(q, k, v, shape, new AttentionOptions { CacheLengths = [0, 9] });
        Assert.That(output.Take(2 * 32), Is.All.EqualTo(0f), "sequence 0 sees no key");
        Assert.That(output.Skip(2 * 32).Any(x => x != 0f), Is.True);
    }

    [Test]
    public void Repeated_split_calls_reuse_the_workspace_and_dispose_frees_it()
    {
        using var engine = FlashEngine.Create(TestBackend.Cpu.First().Engine.Accelerator);
        var verificationCase = new VerificationCase("split", new AttentionShape(1, 2, 1, 17, 40, 32), AttentionOptions.Default, ElementType.Float32);
        var plan = new ExecutionPlan(PortableTilePlanner.PlanForward(verificationCase.Shape, engine.Facts), 3);
        for (int i = 0; i < 3; i++)
            Verify.Passes(engine, verificationCase, plan);
        Assert.That(engine.Workspace.Allocations, Is.EqualTo(1), "the first call allocates; later ones reuse");
        Assert.That(engine.Workspace.HeldBytes, Is.GreaterThan(0));

        engine.Dispose();
        Assert.That(engine.Workspace.HeldBytes, Is.Zero);
        Assert.That(engine.Allocator.LiveBuffers, Is.Zero);
    }

    [Test]
    public void A_plan_whose_workspace_exceeds_the_bound_is_refused_and_the_planner_never_proposes_one()
    {
        using var engine = FlashEngine.Create(TestBackend.Cpu.First().Engine.Accelerator, new FlashEngineOptions { WorkspaceLimitBytes = 1024 });
        var shape = new AttentionShape(1, 2, 1, 17, 40, 32);
        var (q, k, v) = Inputs.For(shape);
        using var buffers = new DeviceTensors(engine, q, k, v);
        var plan = new ExecutionPlan(PortableTilePlanner.PlanForward(shape, engine.Facts), 4);
        var refused = Assert.Throws<ArgumentException>(() => engine.AttentionWithPlan(buffers.Q, buffers.K, buffers.V, buffers.Output,
            shape, null, default, plan));
        Assert.That(refused!.Message, Does.Contain("workspace"));

        var request = new PlanRequest(shape, ElementType.Float16, MaskKind.None, false, TensorCores: true);
        foreach (var candidate in TilePlanner.Candidates(request, DeviceFacts.H100, 1024))
            Assert.That(TilePlanner.WorkspaceBytes(shape, candidate.KeySplits), Is.LessThanOrEqualTo(1024), candidate.Describe());
        Inputs.AssertEngineWorks(engine);
    }
}
