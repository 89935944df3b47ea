using System.Text.RegularExpressions;
using TinyFlash.Engine;
using TinyFlash.Kernels.Backward;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// What ILGPU makes of the backward kernels, checked without a GPU: in the PTX for sm_90 every per-thread block and
/// gradient slice stays in registers, shared tiles move 16 bytes at a time, the key-block kernel adds dq with
/// hardware fp32 atomics; the OpenCL C (modifiers and dropout included) compiles; the tensor-core passes are made of
/// mma.sync, ldmatrix and cp.async with every operand in registers and no atomics.
/// </summary>
public class BackwardGeneratedCodeTests
{
    private static IEnumerable<TestCaseData> Variants() =>
        from kernel in new[] { typeof(KeyValueGradientKernel<,,,,,>), typeof(QueryGradientKernel<,,,,,>) }
        from type in new[] { ElementType.Float16, ElementType.Float32 }
        from headDim in new[] { 64, 128 }
        from modified in new[] { false, true }
        select new TestCaseData(kernel, type, headDim, modified)
            .SetName($"{kernel.Name[..kernel.Name.IndexOf('`')]} {type} d={headDim}{(modified ? " modified" : "")}");

    [TestCaseSource(nameof(Variants))]
    public void The_PTX_keeps_blocks_in_registers_and_moves_shared_memory_16_bytes_at_a_time(Type kernel, ElementType type, int headDim, bool modified)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.Backward(kernel, type, BackwardTilePlanner.Plan(new AttentionShape(1, 1, 1, 1024, 1024, headDim), DeviceFacts.H100), modified);

        Assert.That(Regex.Matches(ptx, @"\b(ld|st)\.local").Count, Is.Zero, "no local-memory traffic");
        Assert.That(Regex.Matches(ptx, @"ld\.shared\.v4\.f32").Count, Is.GreaterThanOrEqualTo(16), "16-byte shared loads in the products");
        Assert.That(Regex.Matches(ptx, @"ex2\.approx").Count, Is.GreaterThanOrEqualTo(16), "P = 2^(S − lse) by ex2");
        Assert.That(ptx, Does.Not.Contain("tanh.approx.ftz"), "no fast-math tanh (not PTX: the JIT rejects it)");
        if (kernel == typeof(KeyValueGradientKernel<,,,,,>))
            Assert.That(Regex.Matches(ptx, @"(red|atom)\.[\w.]*add[\w.]*\.f32").Count, Is.GreaterThanOrEqualTo(16), "dq by fp32 atomic adds");
        else
            Assert.That(Regex.Matches(ptx, @"\b(red|atom)\.").Count, Is.Zero, "the deterministic pass has no atomics");
    }

    [TestCase(ElementType.Float16, 64, false)]
    [TestCase(ElementType.BFloat16, 128, false)]
    [TestCase(ElementType.Float16, 128, true)]
    public void The_tensor_core_backward_PTX_uses_mma_ldmatrix_and_cp_async_with_operands_in_registers(ElementType type, int headDim, bool modified)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.TensorCoreBackward(type, headDim, modified);

        string inputs = type == ElementType.Float16 ? "f16.f16" : "bf16.bf16";
        // Per 64-key block and 64-query tile: Sᵀ and dPᵀ (4 query blocks × 2 mma, twice, in the feature loop), dV and dK
        // (4 query blocks × HeadDim/16 feature blocks × 2 mma each); dQ is the dq pass's.
        int expected = 16 + 2 * (4 * headDim / 16 * 2);
        Assert.That(Regex.Matches(ptx, @"\b(ld|st)\.local").Count, Is.Zero, "every tile in registers");
        Assert.That(ptx, Does.Not.Contain("tanh.approx.ftz"), "no fast-math tanh (not PTX: the JIT rejects it)");
        Assert.That(Regex.Matches(ptx, $@"mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.{inputs}\.f32").Count, Is.EqualTo(expected));
        Assert.That(ptx, Does.Contain("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), "dO, Q and K as transposed B operands");
        Assert.That(ptx, Does.Contain("cp.async.cg.shared.global"), "global to shared by cp.async");
        Assert.That(Regex.Matches(ptx, @"\b(red|atom)\.").Count, Is.Zero, "no atomics: dq is the dq pass's");
        Assert.That(ptx, Does.Not.Contain("mov.b8"), "no byte moves (ILGPU moves a bool passed by reference as bytes into a b32 register; ptxas rejects them)");
        // Dropout: one generator call a lane for each pair of 16×16 tiles of Sᵀ, the warp's 16 keys × 64 queries (a call
        // covers what two neighbouring lanes hold of a tile, at 8 bits an element; a call a lane and tile made it 4, a
        // call per row over 32 keys 8).
        Assert.That(GeneratorCalls(ptx), Is.EqualTo(modified ? 2 : 0), "generator calls");
    }

    [TestCase(ElementType.Float16, 64, false, false)]
    [TestCase(ElementType.BFloat16, 128, true, false)]
    [TestCase(ElementType.Float16, 128, true, true)]
    [TestCase(ElementType.BFloat16, 64, false, true)]
    public void The_warpgroup_backward_PTX_uses_wgmma_with_operands_in_registers(ElementType type, int headDim, bool modified, bool queryGradient)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.WarpGroupBackward(type, headDim, modified, queryGradient);

        string inputs = type == ElementType.Float16 ? "f16.f16" : "bf16.bf16";
        // Per 64-row tile: S and dP (HeadDim/16 products each, A and B from shared memory); then the key-block pass's dV
        // and dK, the dq pass's dQ (4 blocks of 16 × HeadDim/64 feature leaves each, A from registers).
        int fromShared = 2 * headDim / 16, fromRegisters = (queryGradient ? 1 : 2) * 4 * headDim / 64;
        Assert.That(ptx, Does.Contain(".target sm_90a"));
        Assert.That(Regex.Matches(ptx, @"\b(ld|st)\.local").Count, Is.Zero, "every tile in registers");
        Assert.That(Regex.Matches(ptx, $@"wgmma\.mma_async\.sync\.aligned\.m64n64k16\.f32\.{inputs} \{{[^}}]*\}}, %rd\d+").Count, Is.EqualTo(fromShared));
        Assert.That(Regex.Matches(ptx, $@"wgmma\.mma_async\.sync\.aligned\.m64n64k16\.f32\.{inputs} \{{[^}}]*\}}, \{{").Count, Is.EqualTo(fromRegisters));
        Assert.That(ptx, Does.Not.Contain("mma.sync"));
        Assert.That(ptx, Does.Contain("cp.async.cg.shared.global"), "global to shared by cp.async");
        Assert.That(ptx, Does.Contain("fence.proxy.async.shared::cta"), "copies published to the products");
        Assert.That(Regex.Matches(ptx, @"\b(red|atom)\.").Count, Is.Zero, "no atomics: dq is summed in the dq pass's registers");
        // Dropout: one generator call a lane for each pair of 16×16 tiles of the warp's 16 × 64 scores, in either pass.
        Assert.That(GeneratorCalls(ptx), Is.EqualTo(modified ? 2 : 0), "generator calls");
    }

    [TestCase(ElementType.Float16, 128, true)]
    [TestCase(ElementType.BFloat16, 64, false)]
    public void The_tensor_core_deterministic_dq_PTX_uses_mma_without_atomics(ElementType type, int headDim, bool modified)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.TensorCoreBackward(type, headDim, modified, queryGradient: true);

        string inputs = type == ElementType.Float16 ? "f16.f16" : "bf16.bf16";
        // S and dP (4 key blocks × 2 mma, twice, in the feature loop), dQ += dS·K (4 key blocks × HeadDim/16 × 2).
        Assert.That(Regex.Matches(ptx, @"\b(ld|st)\.local").Count, Is.Zero, "every tile in registers");
        Assert.That(Regex.Matches(ptx, $@"mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.{inputs}\.f32").Count, Is.EqualTo(16 + 4 * headDim / 16 * 2));
        Assert.That(Regex.Matches(ptx, @"\b(red|atom)\.").Count, Is.Zero, "no atomics");
        Assert.That(ptx, Does.Not.Contain("mov.b8"), "no byte moves (ptxas rejects them)");
        Assert.That(GeneratorCalls(ptx), Is.EqualTo(modified ? 2 : 0), "one generator call a lane for each pair of 16×16 tiles of dropout");
    }

    /// <summary>Philox4x32-10 calls in <paramref name="ptx"/> (<see cref="GeneratedCodeTests.PhiloxMultiplies"/>, 20 a call).</summary>
    private static int GeneratorCalls(string ptx) => GeneratedCodeTests.PhiloxMultiplies(ptx) / 20;

    [TestCase(typeof(KeyValueGradientKernel<,,,,,>), ElementType.Float16, 16, 80)]
    [TestCase(typeof(QueryGradientKernel<,,,,,>), ElementType.BFloat16, 8, 256)]
    [TestCase(typeof(KeyValueGradientKernel<,,,,,>), ElementType.Float32, 32, 64)]
    public void The_OpenCL_C_compiles(Type kernel, ElementType type, int block, int headDim)
    {
        if (OpenClSource.Clang is null)
            Assert.Ignore("No clang on this machine to compile OpenCL C (.ci/run installs it).");

        string diagnostics = OpenClSource.Diagnostics(OpenClSource.Backward(kernel, type, new TilePlan(block, block / 4, headDim)));

        Assert.That(diagnostics, Is.Empty);
    }
}
