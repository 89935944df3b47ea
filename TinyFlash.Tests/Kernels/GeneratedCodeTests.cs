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

    [TestCase(ElementType.Float16, 4, 2, 128, 64)]
    [TestCase(ElementType.BFloat16, 4, 2, 64, 128)]
    [TestCase(ElementType.Float16, 4, 1, 64, 256)]
    public void The_tensor_core_PTX_uses_mma_ldmatrix_and_cp_async_with_operands_in_registers(
        ElementType type, int warps, int rowTiles, int blockN, int headDim)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.Forward(type, new TensorCorePlan(warps, rowTiles, blockN, headDim));

        string inputs = type == ElementType.Float16 ? "f16.f16" : "bf16.bf16";
        // S = Q·Kᵀ: two feature steps in the loop (and a peeled odd one), BlockN/8 columns of mma per row tile;
        // O += P·V: every 16-key block meets HeadDim/8 columns of mma per row tile.
        int expected = blockN / 8 * rowTiles * (2 + headDim / 16 % 2) + headDim / 8 * rowTiles * (blockN / 16);
        Assert.That(Regex.Matches(ptx, @"\b(ld|st)\.local").Count, Is.Zero, "inline-asm operands live in registers");
        Assert.That(Regex.Matches(ptx, $@"mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.{inputs}\.f32").Count,
            Is.EqualTo(expected), "mma.sync for S and for O");
        Assert.That(ptx, Does.Contain("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16"), "V through ldmatrix.trans");
        Assert.That(ptx, Does.Contain("cp.async.cg.shared.global"), "global to shared by cp.async");
        Assert.That(Regex.Matches(ptx, @"bar\.sync").Count, Is.EqualTo(1), "one barrier a key tile");
    }

    /// <summary>
    /// The variants with score modifiers and dropout (softcap, ALiBi, bias, block-sparse masks, dropout) on both kernel
    /// families: ILGPU's fast-math <c>XMath.Tanh</c> became <c>tanh.approx.ftz.f32</c>, which is not PTX, and every such
    /// kernel failed the driver's JIT on the H100; the softcap's tanh is now built from ex2.
    /// </summary>
    [TestCase(ElementType.Float32, false)]
    [TestCase(ElementType.Float16, true)]
    [TestCase(ElementType.BFloat16, true)]
    public void The_modified_forward_PTX_has_no_instruction_the_JIT_rejects(ElementType type, bool tensorCore)
    {
        using var generator = new PtxGenerator();
        ForwardPlan plan = tensorCore ? new TensorCorePlan(4, 1, 64, 64) : new TilePlan(64, 16, 32);
        string ptx = generator.Forward(type, plan, modified: true);

        Assert.That(ptx, Does.Not.Contain("tanh.approx.ftz"), "tanh.approx takes no .ftz");
        Assert.That(PhiloxMultiplies(ptx), Is.GreaterThanOrEqualTo(20), "Philox rounds by one 32 × 32-bit wide multiply each");
        Assert.That(ptx, Does.Not.Contain("brx.idx"), "dropout words picked by selects, not indexed branches");
        if (!tensorCore)
            return;
        // A warp's 16 × 64 scores: one call a lane for each pair of 16×16 tiles, not a copy a lane parity; its bytes moved
        // to the kept bits by two permutes a tile (own and neighbour's), the mask widened by one a packed P register.
        Assert.That(PhiloxMultiplies(ptx), Is.EqualTo(2 * 20), "generator calls");
        Assert.That(Regex.Matches(ptx, @"prmt\.b32").Count, Is.EqualTo(2 * 4 + 4 * 4), "byte permutes");
    }

    /// <summary>
    /// Philox in the fused norm: each round's product is one <c>mul.wide.u32</c> (the portable 64-bit product had
    /// compiled to 64 × 64-bit multiplies, the kernel issue-bound on the H100), words are picked without indexed
    /// branches, and uniforms are made without a detour through fp64.
    /// </summary>
    [TestCase("norm")]
    [TestCase("norm-backward")]
    public void The_norm_PTX_draws_dropout_with_32_bit_multiplies(string kernel)
    {
        using var generator = new PtxGenerator();
        string ptx = generator.Elementwise(kernel, ElementType.Float16);

        Assert.That(PhiloxMultiplies(ptx), Is.GreaterThanOrEqualTo(20));
        Assert.That(ptx, Does.Not.Contain("brx.idx"));
        Assert.That(ptx, Does.Not.Contain("cvt.rn.f64"));
        Assert.That(Regex.Matches(ptx, @"\b(ld|st)\.local").Count, Is.Zero);
    }

    /// <summary>
    /// The norm kernels read the inputs of every quad a thread holds before converting any, so that a row's loads are in
    /// flight together (the forward: x, residual and bias of 8 quads), and test for dropout once for all the quads, so
    /// that their Philox calls are one block of code.
    /// </summary>
    [Test]
    public void The_norm_forward_PTX_reads_a_row_before_converting_any_and_tests_dropout_once()
    {
        using var generator = new PtxGenerator();
        string ptx = generator.Elementwise("norm", ElementType.Float16);

        string read = ptx[..ptx.IndexOf("cvt.f32.f16", StringComparison.Ordinal)];
        Assert.That(Regex.Matches(read, @"ld\.global\.v4\.b16").Count, Is.EqualTo(24));
        Assert.That(Regex.Matches(ptx, @"setp\.gt\.f32\s+%p\d+, %f\d+, 0f00000000;").Count, Is.EqualTo(1), "p > 0 tested once");
        Assert.That(ptx, Does.Not.Contain("cp.async"), "the forward reads its rows straight from global memory");
    }

    /// <summary>
    /// The norm backward streams the next chunk of its rows (dy, x and the residual of 4 quads) into a shared-memory
    /// stage with <c>cp.async</c>, every chunk's copies a group of their own (the block's first closed before the loop:
    /// without it the first chunk shared a group with the second, and <c>wait_group 1</c> let it be read before it
    /// landed), waits for the current chunk's alone, and reads a chunk (with bias and γ) before converting it.
    /// </summary>
    [Test]
    public void The_norm_backward_PTX_streams_rows_in_groups_of_one_chunk_and_reads_a_chunk_before_converting_it()
    {
        using var generator = new PtxGenerator();
        string ptx = generator.Elementwise("norm-backward", ElementType.Float16);

        Assert.That(Regex.Matches(ptx, @"cp\.async\.ca\.shared\.global \[[^]]+\], \[[^]]+\], 8;").Count, Is.GreaterThanOrEqualTo(12));
        Assert.That(Regex.Matches(ptx, @"cp\.async\.ca\.shared\.global \[[^]]+\], \[[^]]+\], 4;").Count, Is.GreaterThanOrEqualTo(2), "the row's mean and rstd");
        Assert.That(Regex.Matches(ptx, @"cp\.async\.commit_group;").Count, Is.EqualTo(2), "the prologue's group and the loop's");
        int wait = ptx.IndexOf("cp.async.wait_group 1;", StringComparison.Ordinal);
        Assert.That(wait, Is.GreaterThan(0), "the next chunk's copies stay in flight");
        string read = ptx[wait..ptx.IndexOf("cvt.f32.f16", wait, StringComparison.Ordinal)];
        Assert.That(Regex.Matches(read, @"ld\.(shared|global)\.v4\.b16").Count, Is.EqualTo(20), "a chunk read before its first conversion");
        Assert.That(Regex.Matches(ptx, @"setp\.gt\.f32\s+%p\d+, %f\d+, 0f00000000;").Count, Is.EqualTo(1), "p > 0 tested once");
    }

    /// <summary>
    /// The norm kernels read their optional inputs (residual, bias, β) unconditionally, absent ones as rows of zeros, so
    /// no 16-bit load is merged with zeros after a branch (<c>mov.b16</c>, a byte permute a half in SASS); and their group
    /// reductions are written out for 32 lanes, the warps' values summed by a second butterfly: the forward's moments
    /// 3 × 5 shuffles, then 2 × 5 and 5 across the warps; the backward's pair 2 × 5, then 2 × 5.
    /// </summary>
    [Test]
    public void The_norm_PTX_reads_optional_inputs_unconditionally_and_reduces_in_written_out_butterflies()
    {
        using var generator = new PtxGenerator();
        foreach (var (kernel, shuffles) in new[] { ("norm", 30), ("norm-backward", 20) })
        {
            string ptx = generator.Elementwise(kernel, ElementType.Float16);
            Assert.That(ptx, Does.Not.Contain("mov.b16"), kernel);
            Assert.That(Regex.Matches(ptx, @"shfl\.sync\.bfly").Count, Is.GreaterThanOrEqualTo(shuffles), kernel);
            Assert.That(Regex.Matches(ptx, @"bar\.sync").Count, Is.EqualTo(1), kernel);
        }
    }

    /// <summary>
    /// The norm's exact 4096-feature rows compile without bounds checks (no element-by-element loads), and the
    /// backward's row pass carries the register limit the engine loads it with: 64 where it plans 2 quads a thread (768
    /// features: 96 threads of 2 quads, 48 of 4 not being whole warps), 128 for 16-bit rows of 4 quads (4096 features),
    /// none for fp32 rows of 4 quads and the forward.
    /// </summary>
    [Test]
    public void The_exact_norm_PTX_moves_whole_vectors_and_the_backward_is_register_limited_where_planned()
    {
        using var generator = new PtxGenerator();
        foreach (var kernel in new[] { "norm", "norm-backward" })
            Assert.That(Regex.Matches(generator.Elementwise(kernel, ElementType.Float16), @"ld\.global\.(b16|u16)\b").Count, Is.Zero, kernel);
        Assert.That(generator.Elementwise("norm-backward", ElementType.Float16, hidden: 768), Does.Match(@"\.entry\s+\w+\s*\([^)]*\)\s*\.maxnreg 64\s*\{"));
        foreach (var type in new[] { ElementType.Float16, ElementType.BFloat16 })
            Assert.That(generator.Elementwise("norm-backward", type), Does.Match(@"\.entry\s+\w+\s*\([^)]*\)\s*\.maxnreg 128\s*\{"), $"{type}: four quads a thread, 128");
        Assert.That(generator.Elementwise("norm-backward", ElementType.Float32), Does.Not.Contain(".maxnreg"), "fp32: four quads a thread, unlimited");
        Assert.That(generator.Elementwise("norm", ElementType.Float16), Does.Not.Contain(".maxnreg"));
    }

    [Test]
    public void Inline_asm_slots_become_registers_and_other_local_memory_is_kept()
    {
        const string ptx = """
            .local .align 4 .b8 __local_depot0[4];
            .local .align 4 .b8 __local_depot1[4];
            .local .align 4 .b8 __local_depot2[16];
            mov.b64 %rd1, __local_depot0;
            mov.b64 %rd2, __local_depot1;
            mov.b64 %rd3, __local_depot2;
            st.local.f32 [%rd1], %f1;
            ld.local.f32 %f2, [%rd1];
            st.local.b32 [%rd2], %r1;
            add.s64 %rd4, %rd2, 0;
            ld.local.b32 %r2, [%rd3];
            """;

        string rewritten = InlinePtxOperands.PromoteToRegisters(ptx);

        Assert.That(rewritten, Does.Contain(".reg .b32 %__local_depot0;"));
        Assert.That(rewritten, Does.Contain("mov.f32 %__local_depot0, %f1;"));
        Assert.That(rewritten, Does.Contain("mov.f32 %f2, %__local_depot0;"));
        Assert.That(rewritten, Does.Not.Contain("mov.b64 %rd1, __local_depot0;"));
        Assert.That(rewritten, Does.Contain("st.local.b32 [%rd2], %r1;"), "a slot whose address escapes stays in memory");
        Assert.That(rewritten, Does.Contain("ld.local.b32 %r2, [%rd3];"), "an array stays in memory");
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

    /// <summary>
    /// The inline <c>mul.wide.u32</c> of a Philox multiplier (0xD2511F53, 0xCD9E8D57) in <paramref name="ptx"/>: two a
    /// round, 20 a Philox4x32-10 call.
    /// </summary>
    internal static int PhiloxMultiplies(string ptx) => Regex.Matches(ptx, @"mul\.wide\.u32\s+%rd\d+, (3528531795|3449720151), %r\d+;").Count;
}
