using TinyFlash.Attention;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Masks;

/// <summary>
/// The analyzer's classification of known patterns and of near misses (one element off is general), and the engine
/// routing a structured mask to the kernel for its structure, with results equal to the reference's on the mask.
/// </summary>
public class SparsityAnalyzerTests
{
    private static bool[] MaskOf(int queries, int keys, Func<int, int, bool> visible)
    {
        var mask = new bool[queries * keys];
        for (int i = 0; i < queries; i++)
            for (int j = 0; j < keys; j++)
                mask[i * keys + j] = visible(i, j);
        return mask;
    }

    /// <summary>The reference's own visibility rule for band options, as a mask.</summary>
    private static bool[] BandMask(int queries, int keys, AttentionOptions options) =>
        MaskOf(queries, keys, (i, j) => ReferenceAttention.Visible(new AttentionShape(1, 1, 1, queries, keys, 32), options, 0, i, j));

    private static IEnumerable<TestCaseData> Bands()
    {
        yield return new TestCaseData(40, 40, new AttentionOptions { Causal = true }, MaskPatternKind.Causal).SetName("Causal, square");
        yield return new TestCaseData(10, 50, new AttentionOptions { Causal = true }, MaskPatternKind.Causal).SetName("Causal, fewer queries than keys");
        yield return new TestCaseData(50, 10, new AttentionOptions { Causal = true }, MaskPatternKind.Causal).SetName("Causal, more queries than keys (empty rows)");
        yield return new TestCaseData(64, 64, new AttentionOptions { Causal = true, WindowLeft = 7 }, MaskPatternKind.SlidingWindow).SetName("Causal sliding window");
        yield return new TestCaseData(30, 70, new AttentionOptions { WindowLeft = 5, WindowRight = 3 }, MaskPatternKind.SlidingWindow).SetName("Window on both sides");
        yield return new TestCaseData(33, 33, new AttentionOptions { WindowLeft = 4 }, MaskPatternKind.SlidingWindow).SetName("Window on the left only");
        yield return new TestCaseData(33, 33, new AttentionOptions { WindowRight = 2 }, MaskPatternKind.SlidingWindow).SetName("Window on the right only");
    }

    [TestCaseSource(nameof(Bands))]
    public void A_band_is_recognised_with_the_parameters_that_reproduce_it(int queries, int keys, AttentionOptions options, MaskPatternKind kind)
    {
        var mask = BandMask(queries, keys, options);
        var pattern = SparsityAnalyzer.Analyze(mask, queries, keys);
        Assert.That(pattern.Kind, Is.EqualTo(kind), pattern.Describe());
        Assert.That(BandMask(queries, keys, pattern.AsOptions(AttentionOptions.Default)!), Is.EqualTo(mask), "the options reproduce the mask exactly");
        Assert.That(pattern.Density, Is.EqualTo(mask.Count(v => v) / (double)mask.Length).Within(1e-12));
    }

    [Test]
    public void A_block_mask_is_analyzed_by_its_visible_elements()
    {
        var window = BandMask(40, 40, new AttentionOptions { Causal = true, WindowLeft = 6 });
        var pattern = SparsityAnalyzer.Analyze(BlockSparseMask.FromDense(window, 40, 40, 16));
        Assert.That(pattern.Kind, Is.EqualTo(MaskPatternKind.SlidingWindow), pattern.Describe());
        Assert.That((pattern.WindowLeft, pattern.Causal), Is.EqualTo((6, true)));
        var perHead = SparsityAnalyzer.Analyze(BlockSparseMask.FromDense([.. window, .. window], 40, 40, 16, heads: 2));
        Assert.That(perHead.Kind, Is.EqualTo(MaskPatternKind.General));
        Assert.That(perHead.Density, Is.EqualTo(pattern.Density).Within(1e-12));
    }

    [Test]
    public void Full_and_general_masks()
    {
        Assert.That(SparsityAnalyzer.Analyze(MaskOf(5, 7, (_, _) => true), 5, 7).Kind, Is.EqualTo(MaskPatternKind.Full));
        var random = new Random(3);
        var noise = MaskOf(20, 20, (_, _) => random.NextDouble() < 0.5);
        Assert.That(SparsityAnalyzer.Analyze(noise, 20, 20).Kind, Is.EqualTo(MaskPatternKind.General));
    }

    [Test]
    public void One_element_off_a_structure_is_general()
    {
        var window = BandMask(32, 32, new AttentionOptions { Causal = true, WindowLeft = 5 });
        window[20 * 32 + 3] = true;
        Assert.That(SparsityAnalyzer.Analyze(window, 32, 32).Kind, Is.EqualTo(MaskPatternKind.General), "a window with one extra visible element");

        var causal = BandMask(32, 32, new AttentionOptions { Causal = true });
        causal[31 * 32 + 31] = false;
        Assert.That(SparsityAnalyzer.Analyze(causal, 32, 32).Kind, Is.EqualTo(MaskPatternKind.General), "causal with one element hidden");

        var blocks = MaskOf(12, 12, (i, j) => i / 4 == j / 4);
        blocks[5 * 12 + 9] = true;
        Assert.That(SparsityAnalyzer.Analyze(blocks, 12, 12).Kind, Is.EqualTo(MaskPatternKind.General), "blocks with one element across");
    }

    [Test]
    public void Independent_sequences_are_block_diagonal_full_or_causal()
    {
        // Sequences of 3, 5 and 4 queries over keys 0..3, 6..8 and 9..14; keys 4 and 5 are seen by nobody.
        int Sequence(int i) => i < 3 ? 0 : i < 8 ? 1 : 2;
        var full = MaskOf(12, 15, (i, j) => Sequence(i) switch { 0 => j < 4, 1 => j >= 6 && j < 9, _ => j >= 9 });
        var pattern = SparsityAnalyzer.Analyze(full, 12, 15);
        Assert.That(pattern.Kind, Is.EqualTo(MaskPatternKind.BlockDiagonal), pattern.Describe());
        Assert.That(pattern.QueryOffsets, Is.EqualTo(new[] { 0, 3, 3, 8, 12 }));
        Assert.That(pattern.KeyOffsets, Is.EqualTo(new[] { 0, 4, 6, 9, 15 }), "the unseen keys 4 and 5 are a sequence without queries");
        Assert.That(pattern.Causal, Is.False);

        var causal = MaskOf(12, 12, (i, j) => i / 4 == j / 4 && j <= i);
        var causalPattern = SparsityAnalyzer.Analyze(causal, 12, 12);
        Assert.That(causalPattern.Kind, Is.EqualTo(MaskPatternKind.BlockDiagonal), causalPattern.Describe());
        Assert.That(causalPattern.Causal, Is.True);
        Assert.That(causalPattern.QueryOffsets, Is.EqualTo(new[] { 0, 4, 8, 12 }));
    }

    private static IEnumerable<TestCaseData> Routed()
    {
        yield return Case("causal", 48, 48, (i, j) => j <= i, "Causal", packed: false);
        yield return Case("causal window", 48, 60, (i, j) => j <= i + 12 && j >= i + 12 - 9, "Window", packed: false);
        yield return Case("block-diagonal", 40, 40, (i, j) => i / 10 == j / 10, "None", packed: true);
        yield return Case("block-diagonal causal", 40, 40, (i, j) => i / 8 == j / 8 && j <= i, "Causal", packed: true);

        static TestCaseData Case(string name, int queries, int keys, Func<int, int, bool> visible, string mask, bool packed) =>
            new TestCaseData(queries, keys, visible, mask, packed).SetName($"A {name} mask runs on its structured kernel and matches the reference");
    }

    [TestCaseSource(nameof(Routed))]
    public void A_structured_mask_runs_on_its_kernel_and_matches_the_reference(int queries, int keys, Func<int, int, bool> visible,
        string expectedMask, bool packed)
    {
        var shape = new AttentionShape(1, 2, 1, queries, keys, 32);
        var options = new AttentionOptions { Bias = AttentionBias.FromMask(MaskOf(queries, keys, visible)) };
        var problem = AttentionValidator.Validate(shape, options);
        Assert.That(problem.Modifiers, Is.Null, "the mask is not read");
        Assert.That(problem.Mask.ToString(), Is.EqualTo(expectedMask));
        Assert.That(problem.Packed is not null, Is.EqualTo(packed));

        foreach (var type in new[] { ElementType.Float32, ElementType.Float16 })
        {
            var result = AttentionVerifier.Run(TestBackend.Cpu.First().Engine, new VerificationCase("routed", shape, options, type));
            Assert.That(result.Passed, Is.True, $"{type}: error {result.Error:E3} (bound {result.Bound:E3}), log-sum-exp {result.LogSumExpError:E3}");
        }
    }

    [Test]
    public void A_general_mask_or_one_combined_with_other_masks_keeps_the_masked_kernel()
    {
        var shape = new AttentionShape(1, 1, 1, 16, 16, 32);
        var random = new Random(9);
        var general = new AttentionOptions { Bias = AttentionBias.FromMask(MaskOf(16, 16, (_, _) => random.NextDouble() < 0.5)) };
        Assert.That(AttentionValidator.Validate(shape, general).Modifiers, Is.Not.Null);

        var causalMask = AttentionBias.FromMask(MaskOf(16, 16, (i, j) => j <= i));
        Assert.That(AttentionValidator.Validate(shape, new AttentionOptions { Bias = causalMask, WindowLeft = 3 }).Modifiers, Is.Not.Null,
            "a mask on top of a window is read as given");
        Assert.That(AttentionValidator.Validate(shape with { Batch = 2 }, new AttentionOptions
        {
            Bias = AttentionBias.FromMask(MaskOf(16, 16, (i, j) => i / 4 == j / 4)),
        }).Modifiers, Is.Not.Null, "block-diagonal needs one batch element to run as packed sequences");
    }

    [Test]
    public void A_block_diagonal_mask_with_dropout_keeps_the_masked_kernel_and_the_mask_of_tensor_positions()
    {
        var shape = new AttentionShape(1, 2, 1, 40, 40, 32);
        var options = new AttentionOptions { Bias = AttentionBias.FromMask(MaskOf(40, 40, (i, j) => i / 10 == j / 10)), DropoutProbability = 0.3f, DropoutSeed = 4 };
        var problem = AttentionValidator.Validate(shape, options);
        Assert.That(problem.Packed, Is.Null, "packed sequences would count keys from each sequence's first");
        Assert.That(problem.Modifiers, Is.Not.Null);
        var result = AttentionVerifier.Run(TestBackend.Cpu.First().Engine, new VerificationCase("block-diagonal, dropout", shape, options, ElementType.Float32));
        Assert.That(result.Passed, Is.True, $"error {result.Error:E3} (bound {result.Bound:E3})");
    }
}
