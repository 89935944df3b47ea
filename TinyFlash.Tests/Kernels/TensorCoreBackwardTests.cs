using TinyFlash.Attention;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// The tensor-core backward (the key-block pass for dK and dV, on <c>mma.sync</c> or at head dims 64 and 128 on warpgroup
/// products, and the dq pass on <c>mma.sync</c>) on ILGPU's
/// warp-32 CPU device, where every inline-PTX instruction runs as its portable twin: their fragment indexing, transposed
/// score tiles and masking are checked against the closed-form double gradients under the fp16/bf16 accuracy rule, on
/// shapes that are not multiples of their 64-row blocks, with dropout, ALiBi, a boolean mask and a block-sparse mask;
/// with their streamed tiles in two stages and in one (as on devices of less shared memory); and the calls they do not
/// take (softcap, fp32, head dims over 128) are routed to the portable kernels.
/// </summary>
public class TensorCoreBackwardTests
{
    private static FlashEngine Engine => TestBackend.TensorCores.Engine;

    private static IEnumerable<TestCaseData> Cases()
    {
        var cases = new (string Name, AttentionShape Shape, AttentionOptions Options)[]
        {
            ("odd lengths", new(1, 1, 1, 37, 45, 32), AttentionOptions.Default),
            ("causal, more queries than keys, Bhsd", new(1, 1, 1, 40, 21, 32, AttentionLayout.Bhsd), new AttentionOptions { Causal = true }),
            ("window both sides, two key blocks", new(1, 1, 1, 40, 90, 32), new AttentionOptions { WindowLeft = 9, WindowRight = 3 }),
            ("single query, single key", new(1, 1, 1, 1, 1, 32), AttentionOptions.Default),
            ("GQA, causal", new(1, 2, 1, 20, 70, 32), new AttentionOptions { Causal = true }),
            ("batch 2, cache lengths", new(2, 1, 1, 5, 80, 32), new AttentionOptions { Causal = true, CacheLengths = [80, 13] }),
            ("packed sequences", new(1, 2, 1, 50, 60, 32), new AttentionOptions { Causal = true, QuerySequenceOffsets = [0, 20, 20, 50], KeySequenceOffsets = [0, 25, 30, 60] }),
            ("dropout 0.3, GQA, packed sequences at odd offsets", new(1, 2, 1, 45, 52, 32),
                new AttentionOptions { DropoutProbability = 0.3f, DropoutSeed = 5, DropoutOffset = 9, QuerySequenceOffsets = [0, 21, 45], KeySequenceOffsets = [0, 23, 52] }),
            ("ALiBi and a boolean mask, causal", new(1, 2, 1, 30, 40, 32),
                new AttentionOptions { Causal = true, AlibiSlopes = [0.25f, 0.5f], Bias = AttentionBias.FromMask([.. Enumerable.Range(0, 30 * 40).Select(i => i % 7 != 3)]) }),
            ("block-sparse mask with partial blocks", new(1, 1, 1, 70, 75, 32),
                new AttentionOptions { BlockMask = BlockSparseMask.FromPredicate((_, _, i, j) => (i / 16 + j / 16) % 3 != 1 && (i + j) % 4 != 0, 70, 75, 16) }),
            ("block-sparse mask and dropout (dq by atomics)", new(1, 1, 1, 60, 70, 32),
                new AttentionOptions { DropoutProbability = 0.15f, DropoutSeed = 2, BlockMask = BlockSparseMask.FromPredicate((_, _, i, j) => (i / 16 + j / 16) % 3 != 1 && (i + j) % 5 != 0, 60, 70, 16) }),
            ("deterministic dq, window, two query blocks", new(1, 1, 1, 90, 40, 32), new AttentionOptions { WindowLeft = 20, WindowRight = 6, DeterministicBackward = true }),
            ("deterministic dq, dropout, ALiBi, GQA, Bhsd", new(1, 2, 1, 37, 45, 32, AttentionLayout.Bhsd),
                new AttentionOptions { Causal = true, DropoutProbability = 0.2f, DropoutSeed = 8, AlibiSlopes = [0.3f, 0.6f], DeterministicBackward = true }),
        };
        // One storage type a case, alternating: the emulated mma is slow (32 shuffles each).
        for (int i = 0; i < cases.Length; i++)
        {
            var (name, shape, options) = cases[i];
            var type = i % 2 == 0 ? ElementType.Float16 : ElementType.BFloat16;
            yield return new TestCaseData(new VerificationCase(name, shape, options, type)).SetName($"Tensor-core backward: {name}, d={shape.HeadDim}, {type}");
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void Gradients_match_the_double_reference(VerificationCase verificationCase)
    {
        var problem = AttentionValidator.Validate(verificationCase.Shape, verificationCase.Options);
        Assert.That(Engine.Backward.UsesTensorCores(problem, verificationCase.Type, aligned: true), Is.True);

        var result = AttentionVerifier.RunBackward(Engine, verificationCase);

        Assert.That(result.Passed, Is.True, $"worst gradient error {result.Error:E3} (bound {result.Bound:E3})");
    }

    private static IEnumerable<TestCaseData> WarpGroupCases()
    {
        var cases = new (string Name, AttentionShape Shape, AttentionOptions Options)[]
        {
            ("odd lengths, two key blocks and three query tiles", new(1, 1, 1, 130, 70, 64), AttentionOptions.Default),
            ("causal, more queries than keys (fully masked rows), Bhsd", new(1, 1, 1, 70, 30, 128, AttentionLayout.Bhsd), new AttentionOptions { Causal = true }),
            ("window both sides", new(1, 1, 1, 90, 130, 64), new AttentionOptions { WindowLeft = 20, WindowRight = 5 }),
            ("dropout 0.3, GQA, packed sequences at odd offsets", new(1, 2, 1, 85, 92, 64),
                new AttentionOptions { DropoutProbability = 0.3f, DropoutSeed = 5, DropoutOffset = 9, QuerySequenceOffsets = [0, 21, 85], KeySequenceOffsets = [0, 23, 92] }),
            ("ALiBi and a boolean mask, causal, batch 2 with cache lengths", new(2, 2, 2, 30, 70, 64),
                new AttentionOptions { Causal = true, AlibiSlopes = [0.25f, 0.5f], CacheLengths = [70, 41], Bias = AttentionBias.FromMask([.. Enumerable.Range(0, 30 * 70).Select(i => i % 7 != 3)]) }),
            ("block-sparse mask with partial blocks", new(1, 1, 1, 100, 90, 64),
                new AttentionOptions { BlockMask = BlockSparseMask.FromPredicate((_, _, i, j) => (i / 16 + j / 16) % 3 != 1 && (i + j) % 4 != 0, 100, 90, 16) }),
        };
        for (int i = 0; i < cases.Length; i++)
        {
            var (name, shape, options) = cases[i];
            var type = i % 2 == 0 ? ElementType.Float16 : ElementType.BFloat16;
            yield return new TestCaseData(new VerificationCase(name, shape, options, type)).SetName($"Warpgroup backward: {name}, d={shape.HeadDim}, {type}");
        }
    }

    [TestCaseSource(nameof(WarpGroupCases))]
    public void On_warpgroup_products_gradients_match_the_double_reference(VerificationCase verificationCase)
    {
        Assert.That(Engine.Backward.UsesWarpGroups(verificationCase.Shape.HeadDim), Is.True);

        var result = AttentionVerifier.RunBackward(Engine, verificationCase);

        Assert.That(result.Passed, Is.True, $"worst gradient error {result.Error:E3} (bound {result.Bound:E3})");
    }

    [Test]
    public void On_mma_sync_at_a_warpgroup_head_dim_gradients_match_the_double_reference()
    {
        const int headDim = 128;
        var engine = TestBackend.TensorCoresMmaKeyPass.Engine;
        var verificationCase = new VerificationCase("GQA, causal, dropout", new(1, 2, 1, 20, 30, headDim),
            new AttentionOptions { Causal = true, DropoutProbability = 0.2f, DropoutSeed = 3 }, ElementType.Float16);
        Assert.That(engine.Backward.UsesWarpGroups(headDim), Is.False);

        var result = AttentionVerifier.RunBackward(engine, verificationCase);

        Assert.That(result.Passed, Is.True, $"worst gradient error {result.Error:E3} (bound {result.Bound:E3})");
    }

    private static IEnumerable<TestCaseData> OneStageCases()
    {
        yield return new TestCaseData(new VerificationCase("GQA, causal, three query tiles", new(1, 2, 1, 150, 140, 32), new AttentionOptions { Causal = true },
            ElementType.Float16)).SetName("Tensor-core backward with one stage: GQA, causal, three query tiles");
        yield return new TestCaseData(new VerificationCase("packed sequences, dropout", new(1, 2, 1, 100, 110, 32),
            new AttentionOptions { QuerySequenceOffsets = [0, 70, 100], KeySequenceOffsets = [0, 80, 110], DropoutProbability = 0.2f, DropoutSeed = 2 },
            ElementType.BFloat16)).SetName("Tensor-core backward with one stage: packed sequences, dropout");
    }

    [TestCaseSource(nameof(OneStageCases))]
    public void With_one_stage_gradients_match_the_double_reference(VerificationCase verificationCase)
    {
        var engine = TestBackend.TensorCoresOneStage.Engine;
        Assert.That(engine.Backward.UsesTensorCores(AttentionValidator.Validate(verificationCase.Shape, verificationCase.Options), verificationCase.Type, aligned: true));

        var result = AttentionVerifier.RunBackward(engine, verificationCase);

        Assert.That(result.Passed, Is.True, $"worst gradient error {result.Error:E3} (bound {result.Bound:E3})");
    }

    [TestCase(32, TestName = "Deterministic gradients on tensor cores are bit-identical from run to run (mma.sync)")]
    [TestCase(64, TestName = "Deterministic gradients on tensor cores are bit-identical from run to run (warpgroup)")]
    public void Deterministic_gradients_on_tensor_cores_are_bit_identical_from_run_to_run(int headDim)
    {
        var shape = new AttentionShape(1, 1, 1, 20, 24, headDim);
        Assert.That(Engine.Backward.UsesWarpGroups(headDim), Is.EqualTo(headDim == 64));
        var options = new AttentionOptions { Causal = true, DeterministicBackward = true };
        var (q, k, v) = Inputs.For(shape);
        var h = (float[] x) => Array.ConvertAll(x, a => (System.Half)a);
        var gradOutput = h(RandomTensors.Normal(shape.QueryElements, 4, x => x));
        var output = Engine.Attention(h(q), h(k), h(v), shape, options, out float[] logSumExp);
        var first = Engine.AttentionBackward(h(q), h(k), h(v), output, gradOutput, logSumExp, shape, options);
        var again = Engine.AttentionBackward(h(q), h(k), h(v), output, gradOutput, logSumExp, shape, options);
        Assert.That(again.GradQuery, Is.EqualTo(first.GradQuery));
        Assert.That(again.GradKey, Is.EqualTo(first.GradKey));
        Assert.That(again.GradValue, Is.EqualTo(first.GradValue));
        Assert.That(first.GradQuery.Any(x => x != System.Half.Zero), Is.True);
    }

    [Test]
    public void On_tensor_cores_dq_takes_its_own_pass()
    {
        var shape = new AttentionShape(1, 1, 1, 30, 30, 64);
        bool Separate(AttentionOptions options, bool tensorCores) =>
            Engine.Backward.DeterministicFor(AttentionValidator.Validate(shape, options), options.DeterministicBackward, tensorCores);
        Assert.That(Separate(AttentionOptions.Default, tensorCores: true), Is.True, "measured as fast as atomics or faster");
        Assert.That(Separate(new AttentionOptions { DropoutProbability = 0.1f }, tensorCores: true), Is.True, "with dropout too");
        Assert.That(Separate(new AttentionOptions { DropoutProbability = 0.1f }, tensorCores: false), Is.False);
        Assert.That(Separate(new AttentionOptions { DeterministicBackward = true }, tensorCores: false), Is.True);
        Assert.That(Separate(AttentionOptions.Default, tensorCores: false), Is.False, "the portable kernels keep atomics");
    }

    [Test]
    public void Softcap_fp32_and_large_head_dims_take_the_portable_kernels()
    {
        var shape = new AttentionShape(1, 1, 1, 30, 30, 64);
        bool Uses(AttentionOptions options, ElementType type = ElementType.Float16, AttentionShape? at = null) =>
            Engine.Backward.UsesTensorCores(AttentionValidator.Validate(at ?? shape, options), type, aligned: true);
        Assert.That(Uses(AttentionOptions.Default), Is.True);
        Assert.That(Uses(new AttentionOptions { Softcap = 5 }), Is.False);
        Assert.That(Uses(new AttentionOptions { DropoutProbability = 0.1f, AlibiSlopes = [0.5f] }), Is.True);
        Assert.That(Uses(new AttentionOptions { DeterministicBackward = true }), Is.True);
        Assert.That(Uses(AttentionOptions.Default, ElementType.Float32), Is.False);
        Assert.That(Uses(AttentionOptions.Default, at: shape with { HeadDim = 256 }), Is.False);
        Assert.That(TestBackend.Warp32.Engine.Backward.UsesTensorCores(AttentionValidator.Validate(shape, null), ElementType.Float16, true), Is.False,
            "an engine without tensor cores");
    }
}
