using TinyFlash.Attention;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// The tensor-core backward (key-block pass on <c>mma.sync</c>) on ILGPU's warp-32 CPU device, where every inline-PTX
/// instruction runs as its portable twin: its fragment indexing, transposed score tiles, masking and atomic dq are
/// checked against the closed-form double gradients under the fp16/bf16 accuracy rule, on shapes that are not
/// multiples of its 64-key blocks; and the calls it does not take (modifiers, dropout, deterministic, fp32) are routed
/// to the portable kernels.
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
            ("d64", new(1, 1, 1, 17, 20, 64), AttentionOptions.Default),
            ("batch 2, cache lengths", new(2, 1, 1, 5, 80, 32), new AttentionOptions { Causal = true, CacheLengths = [80, 13] }),
            ("packed sequences", new(1, 2, 1, 50, 60, 32), new AttentionOptions { Causal = true, QuerySequenceOffsets = [0, 20, 20, 50], KeySequenceOffsets = [0, 25, 30, 60] }),
            ("d128", new(1, 1, 1, 20, 30, 128), new AttentionOptions { Causal = true }),
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
        Assert.That(Engine.Backward.UsesTensorCores(problem, verificationCase.Type, aligned: true, deterministic: false), Is.True);

        var result = AttentionVerifier.RunBackward(Engine, verificationCase);

        Assert.That(result.Passed, Is.True, $"worst gradient error {result.Error:E3} (bound {result.Bound:E3})");
    }

    [Test]
    public void Modifiers_dropout_determinism_fp32_and_large_head_dims_take_the_portable_kernels()
    {
        var shape = new AttentionShape(1, 1, 1, 30, 30, 64);
        bool Uses(AttentionOptions options, ElementType type = ElementType.Float16, AttentionShape? at = null) =>
            Engine.Backward.UsesTensorCores(AttentionValidator.Validate(at ?? shape, options), type, aligned: true,
                deterministic: options.DeterministicBackward);
        Assert.That(Uses(AttentionOptions.Default), Is.True);
        Assert.That(Uses(new AttentionOptions { Softcap = 5 }), Is.False);
        Assert.That(Uses(new AttentionOptions { DropoutProbability = 0.1f }), Is.False);
        Assert.That(Uses(new AttentionOptions { DeterministicBackward = true }), Is.False);
        Assert.That(Uses(AttentionOptions.Default, ElementType.Float32), Is.False);
        Assert.That(Uses(AttentionOptions.Default, at: shape with { HeadDim = 256 }), Is.False);
        Assert.That(TestBackend.Warp32.Engine.Backward.UsesTensorCores(AttentionValidator.Validate(shape, null), ElementType.Float16, true, false), Is.False,
            "an engine without tensor cores");
    }
}
