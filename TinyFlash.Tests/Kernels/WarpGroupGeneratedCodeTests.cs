using System.Text.RegularExpressions;
using TinyFlash.Engine;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// What the warpgroup kernel's PTX looks like once TinyFlash has rewritten it, checked without a GPU: the sm_90a target
/// that <c>wgmma</c> needs, every product present, operands in registers, and each chain of products on one set of
/// accumulator registers (on the H200, a copy between two products of a chain made ptxas serialise every product of
/// the kernel: C7514).
/// </summary>
public class WarpGroupGeneratedCodeTests
{
    [TestCase(ElementType.Float16, 2, 128, 128, 3)]
    [TestCase(ElementType.BFloat16, 1, 128, 64, 2)]
    [TestCase(ElementType.Float16, 2, 64, 256, 2)]
    public void The_PTX_targets_sm_90a_and_keeps_each_chain_of_products_on_one_set_of_registers(
        ElementType type, int warpGroups, int blockN, int headDim, int stages)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.Forward(type, new WarpGroupPlan(warpGroups, blockN, headDim, stages));
        string kernel = ptx[ptx.IndexOf(".visible .entry", StringComparison.Ordinal)..];

        string inputs = type == ElementType.Float16 ? "f16.f16" : "bf16.bf16";
        var products = Regex.Matches(kernel, $@"wgmma\.mma_async\.sync\.aligned\.m64n64k16\.f32\.{inputs} \{{(?<first>%f\d+),");
        // Spelled out, no loop: for S every 16 features meet every 64 keys, for O every 16 keys meet every 64 features.
        Assert.That(products.Count, Is.EqualTo(headDim / 16 * blockN / 64 + blockN / 16 * headDim / 64), "wgmma for S and for O");
        Assert.That(products.Select(m => m.Groups["first"].Value).Distinct().Count(), Is.EqualTo(blockN / 64 + headDim / 64),
            "one register set for each 64 columns of S and of O");
        Assert.That(ptx, Does.Contain(".target sm_90a"));
        Assert.That(Regex.Matches(kernel, @"\b(ld|st)\.local").Count, Is.Zero, "inline-asm operands live in registers");
        Assert.That(kernel, Does.Contain("fence.proxy.async.shared::cta"), "cp.async writes made visible to the async proxy");
        Assert.That(kernel, Does.Not.Contain("mma.sync"));
    }

    /// <summary>Two products of a chain as ILGPU writes them: through an operand slot and a copy each way.</summary>
    private static string Chain(string afterSecond) => $$"""
        .visible .entry K()
        {
        	mov.f32 	%f1, 0f00000000;
        	mov.f32 %__local_depot1, %f1;
        	mov.f32 %f2, %__local_depot1;
        	{ wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%f2}, %rd1, %rd2, p, 1, 1, 0, 0; }
        	mov.f32 %__local_depot1, %f2;
        	mov.f32 %f3, %__local_depot1;
        	mov.f32 %f4, %f3;
        	{ wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%f4}, %rd1, %rd2, p, 1, 1, 0, 0; }
        	{{afterSecond}}
        	ret;
        }
        """;

    [Test]
    public void The_copies_of_a_chain_of_products_are_merged_away()
    {
        string coalesced = WarpGroupAccumulators.Coalesce(Chain("add.f32 \t%f5, %f4, %f4;"));

        Assert.That(Regex.Matches(coalesced, @"wgmma[^{]*\{%f2\}").Count, Is.EqualTo(2), "both products on the first's register");
        Assert.That(coalesced, Does.Not.Contain("%__local_depot1"));
        Assert.That(coalesced, Does.Contain("mov.f32 \t%f2, 0f00000000;"));
        Assert.That(coalesced, Does.Contain("add.f32 \t%f5, %f2, %f2;"));
    }

    [Test]
    public void A_chain_whose_intermediate_value_is_read_after_the_next_product_keeps_its_copies()
    {
        string function = Chain("add.f32 \t%f5, %f3, %f4;");

        Assert.That(WarpGroupAccumulators.Coalesce(function), Is.EqualTo(function), "%f3 and %f4 interfere: no register can serve both");
    }
}
