using System.Text.RegularExpressions;
using TinyFlash.Engine;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// What ILGPU makes of the forward kernel, checked without a GPU: the PTX for sm_90 keeps every per-thread tile in
/// registers (ILGPU does not unroll, so a slip into an indexed array would send it to local memory) and moves shared
/// tiles 16 bytes at a time; the OpenCL C compiles.
/// </summary>
public class GeneratedCodeTests
{
    private static IEnumerable<TestCaseData> Variants() =>
        from type in Enum.GetValues<ElementType>()
        from plan in new[] { new TilePlan(128, 16, 128), new TilePlan(128, 8, 64), new TilePlan(128, 8, 256), new TilePlan(64, 16, 80) }
        select new TestCaseData(type, plan.BlockM, plan.ThreadsX, plan.HeadDim)
            .SetName($"{type} {plan.BlockM}x{plan.BlockN} d={plan.HeadDim}");

    [TestCaseSource(nameof(Variants))]
    public void The_PTX_keeps_tiles_in_registers_and_moves_shared_memory_16_bytes_at_a_time(ElementType type, int blockM, int threadsX, int headDim)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.Forward(type, new TilePlan(blockM, threadsX, headDim));

        Assert.That(Regex.Matches(ptx, @"\b(ld|st)\.local").Count, Is.Zero, "no local-memory traffic");
        Assert.That(Regex.Matches(ptx, @"ld\.shared\.v4\.f32").Count, Is.GreaterThanOrEqualTo(12), "16-byte shared loads in the products");
        Assert.That(Regex.Matches(ptx, @"ld\.shared\.(f32|b32)").Count, Is.Zero, "no scalar shared loads");
        Assert.That(Regex.Matches(ptx, @"ex2\.approx").Count, Is.GreaterThanOrEqualTo(20), "the softmax exponentials are ex2");
        if (type == ElementType.Float16)
            Assert.That(ptx, Does.Contain("cvt.f32.f16"), "fp16 widens through the hardware conversion");
    }

    [TestCase(ElementType.Float32, 64, 16, 64)]
    [TestCase(ElementType.Float16, 64, 16, 80)]
    [TestCase(ElementType.BFloat16, 8, 4, 80)]
    [TestCase(ElementType.Float32, 4, 4, 192)]
    public void The_OpenCL_C_compiles_without_undefined_arithmetic(ElementType type, int blockM, int threadsX, int headDim)
    {
        if (OpenClSource.Clang is null)
            Assert.Ignore("No clang on this machine to compile OpenCL C (.ci/run installs it).");

        string diagnostics = OpenClSource.Diagnostics(OpenClSource.Forward(type, new TilePlan(blockM, threadsX, headDim)));

        Assert.That(diagnostics, Is.Empty);
    }
}
