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

    [TestCase(ElementType.Float16)]
    [TestCase(ElementType.BFloat16)]
    public void The_product_twins_compute_the_documented_products(ElementType type)
    {
        var (sharedShared, registerShared) = WarpGroupCheck.Run(Engine, type);
        Assert.That(sharedShared, Is.LessThan(WarpGroupCheck.Tolerance), "A·Bᵀ with both operands in swizzled shared memory");
        Assert.That(registerShared, Is.LessThan(WarpGroupCheck.Tolerance), "A·B with A in registers and B read transposed");
    }
}
