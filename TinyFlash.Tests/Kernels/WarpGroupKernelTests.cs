using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// The warpgroup kernel (Hopper's <c>wgmma</c>) on ILGPU's warp-32 CPU device, where its products run as their twins:
/// each lane reads the swizzled shared tiles through the same descriptors the instruction takes. Its descriptors,
/// swizzle, fragment order, pipelining, masking and online softmax are checked against the double reference under the
/// fp16/bf16 accuracy rule, on shapes that are not multiples of its 64-row blocks or 64-key tiles.
/// </summary>
public class WarpGroupKernelTests
{
    private static FlashEngine Engine => TestBackend.TensorCores.Engine;

    private static IEnumerable<TestCaseData> Cases()
    {
        var shapes = new (string Name, AttentionShape Shape, AttentionOptions Options)[]
        {
            ("odd lengths", new(1, 1, 1, 70, 75, 64), AttentionOptions.Default),
            ("causal, GQA, more queries than keys", new(1, 2, 1, 130, 67, 64, AttentionLayout.Bhsd), new AttentionOptions { Causal = true }),
            ("an odd number of key tiles, window", new(1, 1, 1, 66, 300, 64), new AttentionOptions { WindowLeft = 200, WindowRight = 40 }),
        };
        foreach (var (warpGroups, blockN, stages) in new[] { (1, 64, 2), (2, 128, 3), (1, 64, 4) })
            foreach (var (name, shape, options) in shapes)
                foreach (var type in new[] { ElementType.Float16, ElementType.BFloat16 })
                    yield return new TestCaseData(new WarpGroupPlan(warpGroups, blockN, shape.HeadDim, stages), new VerificationCase(name, shape, options, type))
                        .SetName($"wg{warpGroups}x{blockN}x{stages}, {name}, d={shape.HeadDim}, {type}");
    }

    [TestCaseSource(nameof(Cases))]
    public void Warpgroup_tiles_match_the_reference(object plan, VerificationCase verificationCase) =>
        Verify.Passes(Engine, verificationCase, new ExecutionPlan((WarpGroupPlan)plan));

    /// <summary>What the warpgroup kernel shares with the mma.sync one (modifiers, dropout, sequences, splits) on its own tiles.</summary>
    private static IEnumerable<TestCaseData> SharedFeatures()
    {
        var cases = new (string Name, AttentionShape Shape, AttentionOptions Options, ExecutionPlan Plan)[]
        {
            ("softcap, ALiBi and a boolean mask, causal", new(1, 2, 1, 80, 90, 64),
                new AttentionOptions
                {
                    Causal = true, Softcap = 4f, AlibiSlopes = [0.3f, 0.1f],
                    Bias = AttentionBias.FromMask([.. Enumerable.Range(0, 2 * 80 * 90).Select(i => i * 7919 % 5 != 0)], heads: 2),
                },
                new ExecutionPlan(new WarpGroupPlan(1, 64, 64))),
            ("dropout 0.25, packed sequences at odd offsets", new(1, 2, 1, 100, 110, 64),
                new AttentionOptions { DropoutProbability = 0.25f, DropoutSeed = 5, QuerySequenceOffsets = [0, 37, 100], KeySequenceOffsets = [0, 41, 110] },
                new ExecutionPlan(new WarpGroupPlan(1, 64, 64, 3))),
            ("block-sparse mask, blocks of 24", new(1, 2, 1, 70, 150, 64),
                new AttentionOptions { BlockMask = BlockSparseMask.FromPredicate((_, h, i, j) => (i / 24 + j / 24 + h) % 3 != 0 && (i + j) % 7 != 0, 70, 150, 24, heads: 2) },
                new ExecutionPlan(new WarpGroupPlan(1, 64, 64))),
            ("3 key splits, window", new(1, 1, 1, 65, 400, 64), new AttentionOptions { WindowLeft = 300 },
                new ExecutionPlan(new WarpGroupPlan(1, 64, 64), 3)),
            ("the planner's H100 tile at d=128, causal, Bhsd", new(1, 1, 1, 140, 150, 128, AttentionLayout.Bhsd), new AttentionOptions { Causal = true },
                new ExecutionPlan(TilePlannerTiles(128))),
            ("the planner's H100 tile at d=256", new(1, 1, 1, 70, 75, 256), AttentionOptions.Default, new ExecutionPlan(TilePlannerTiles(256))),
        };
        foreach (var (name, shape, options, plan) in cases)
        {
            var type = name.Contains("block-sparse") || name.Contains("d=256") ? ElementType.BFloat16 : ElementType.Float16;
            yield return new TestCaseData(plan, new VerificationCase(name, shape, options, type)).SetName($"{plan.Describe()}, {name}, {type}");
        }
    }

    private static ForwardPlan TilePlannerTiles(int headDim) => WarpGroupPlanner.Candidates(
        new AttentionShape(4, 2048 / headDim, 2048 / headDim, 4096, 4096, headDim), DeviceFacts.H100)[0];

    [TestCaseSource(nameof(SharedFeatures))]
    public void Modifiers_dropout_packed_sequences_and_key_splits_match_the_reference_on_warpgroup_tiles(object plan, VerificationCase verificationCase) =>
        Verify.Passes(Engine, verificationCase, (ExecutionPlan)plan);

    [TestCase(ElementType.Float16)]
    [TestCase(ElementType.BFloat16)]
    public void The_product_twins_compute_the_documented_products(ElementType type)
    {
        var (sharedShared, registerShared) = WarpGroupCheck.Run(Engine, type);
        Assert.That(sharedShared, Is.LessThan(WarpGroupCheck.Tolerance), "A·Bᵀ with both operands in swizzled shared memory");
        Assert.That(registerShared, Is.LessThan(WarpGroupCheck.Tolerance), "A·B with A in registers and B read transposed");
    }
}
