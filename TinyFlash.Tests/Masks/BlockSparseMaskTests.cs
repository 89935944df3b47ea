using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Masks;

/// <summary>
/// Block-sparse masks against the double reference with the same mask: random block masks from density 0 to 1 with
/// empty rows, block sizes that divide neither the lengths nor the kernels' tiles, per batch element and per head,
/// GQA, both layouts and every dtype, on every CPU backend, the tensor-core emulation and with key splits; and every
/// malformed mask refused by name.
/// </summary>
public class BlockSparseMaskTests
{
    /// <summary>A random mask: each block skipped, full or partial (then random elements) with the given odds.</summary>
    private static bool[] RandomBlocks(int planes, int queries, int keys, int blockSize, double skip, double full, int seed)
    {
        var random = new Random(seed);
        var mask = new bool[planes * queries * keys];
        int queryBlocks = (queries + blockSize - 1) / blockSize, keyBlocks = (keys + blockSize - 1) / blockSize;
        for (int plane = 0; plane < planes; plane++)
        for (int qb = 0; qb < queryBlocks; qb++)
        for (int kb = 0; kb < keyBlocks; kb++)
        {
            double draw = random.NextDouble();
            for (int i = qb * blockSize; i < Math.Min(queries, (qb + 1) * blockSize); i++)
                for (int j = kb * blockSize; j < Math.Min(keys, (kb + 1) * blockSize); j++)
                    mask[(plane * queries + i) * keys + j] = draw >= skip && (draw < skip + full || random.NextDouble() < 0.5);
        }
        return mask;
    }

    private static IEnumerable<TestCaseData> Cases()
    {
        var shape = new AttentionShape(2, 4, 2, 50, 70, 32);
        var (b, h, q, k) = (shape.Batch, shape.QueryHeads, shape.QueryLength, shape.KeyLength);
        yield return Case("density 0 (nothing visible)", BlockSparseMask.FromDense(new bool[q * k], q, k, 16), ElementType.Float32);
        yield return Case("density 1 (every block full)", BlockSparseMask.FromDense(Enumerable.Repeat(true, q * k).ToArray(), q, k, 16), ElementType.Float16);
        yield return Case("10% of blocks, shared", BlockSparseMask.FromDense(RandomBlocks(1, q, k, 16, 0.9, 0.05, 1), q, k, 16), ElementType.Float32);
        yield return Case("half of the blocks, per head", BlockSparseMask.FromDense(RandomBlocks(h, q, k, 12, 0.5, 0.25, 2), q, k, 12, heads: h), ElementType.BFloat16);
        yield return Case("per batch element and head, blocks of 7", BlockSparseMask.FromDense(RandomBlocks(b * h, q, k, 7, 0.4, 0.3, 3), q, k, 7, b, h), ElementType.Float16);
        yield return Case("per batch element, with softcap and ALiBi", BlockSparseMask.FromDense(RandomBlocks(b, q, k, 20, 0.3, 0.4, 4), q, k, 20, batch: b),
            ElementType.Float32, new AttentionOptions { Softcap = 3f, AlibiSlopes = [0.3f, 0.2f, 0.1f, 0.05f] });
        yield return Case("causal sliding window from a predicate", BlockSparseMask.FromPredicate((_, _, i, j) => j <= i + 20 && j >= i + 20 - 9, q, k, 16),
            ElementType.BFloat16, layout: AttentionLayout.Bhsd);

        TestCaseData Case(string name, BlockSparseMask mask, ElementType type, AttentionOptions? options = null, AttentionLayout layout = AttentionLayout.Bshd) =>
            new TestCaseData(new VerificationCase(name, shape with { Layout = layout }, (options ?? AttentionOptions.Default) with { BlockMask = mask }, type))
                .SetName($"Block-sparse: {name}, {type}");
    }

    [TestCaseSource(nameof(Cases))]
    public void A_block_sparse_mask_matches_the_reference_on_every_CPU_backend(VerificationCase verificationCase)
    {
        foreach (var backend in TestBackend.Cpu)
            Verify.Passes(backend.Engine, verificationCase);
    }

    [TestCaseSource(nameof(Cases))]
    public void A_block_sparse_mask_with_key_splits_matches_the_reference(VerificationCase verificationCase)
    {
        var engine = TestBackend.Warp32.Engine;
        Verify.Passes(engine, verificationCase, new ExecutionPlan(PortableTilePlanner.PlanForward(verificationCase.Shape, engine.Facts), 3));
    }

    [Test]
    public void A_block_sparse_mask_on_the_tensor_core_kernel_matches_the_reference()
    {
        var shape = new AttentionShape(1, 2, 1, 50, 70, 32);
        var mask = BlockSparseMask.FromDense(RandomBlocks(2, 50, 70, 12, 0.4, 0.3, 7), 50, 70, 12, heads: 2);
        foreach (var type in new[] { ElementType.Float16, ElementType.BFloat16 })
        {
            var verificationCase = new VerificationCase("block-sparse", shape, new AttentionOptions { BlockMask = mask }, type);
            Verify.Passes(TestBackend.TensorCores.Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(1, 2, 16, 32)));
            Verify.Passes(TestBackend.TensorCores.Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(2, 1, 32, 32), 2));
        }
    }

    [Test]
    public void The_kernels_work_lists_skip_empty_tiles_and_mark_only_partial_ones()
    {
        // Blocks of 8 over 32 x 32: block (0, 0) full, (0, 3) partial, everything else skipped; kernel tiles of 16 x 16.
        var visible = new bool[32 * 32];
        for (int i = 0; i < 8; i++)
        {
            for (int j = 0; j < 8; j++)
                visible[i * 32 + j] = true;
            visible[i * 32 + 24 + i % 3] = true;
        }
        var mask = BlockSparseMask.FromDense(visible, 32, 32, 8);
        Assert.That(mask.BlockDensity, Is.EqualTo(2 / 16.0));
        int[] tiles = mask.KernelTiles(16, 16);
        // Offsets for 2 query tiles, then the entries: query tile 0 visits key tile 0 (partly full: masked) and 1 (masked).
        Assert.That(tiles, Is.EqualTo(new[] { 0, 2, 2, 2 * 0 + 1, 2 * 1 + 1 }));
        Assert.That(mask.KernelTiles(8, 8)[..5], Is.EqualTo(new[] { 0, 2, 2, 2, 2 }), "blocks of the mask's own size: only query block 0 has work");
        Assert.That(mask.KernelTiles(8, 8)[5..], Is.EqualTo(new[] { 2 * 0, 2 * 3 + 1 }), "the full block runs unmasked, the partial one masked");
    }

    [Test]
    public void Groups_with_the_most_tiles_run_first()
    {
        // Query tile 1 sees every key tile, tile 0 one, tile 2 none (tiles of 8 over 24 x 32).
        var mask = BlockSparseMask.FromPredicate((_, _, i, j) => i / 8 == 1 || (i < 8 && j < 8), 24, 32, 8);
        Assert.That(mask.GroupOrder(8, 8, batch: 2, heads: 1), Is.EqualTo(new[] { 1, 4, 0, 3, 2, 5 }),
            "per batch element: tile 1 (4 key tiles), then tile 0 (1), then tile 2 (0)");
    }

    private static IEnumerable<TestCaseData> BadMasks()
    {
        yield return Case(() => BlockSparseMask.FromBlocks(16, 16, 8, 8, 1, 1, [1, 0], [2, 0, 0, 0], [0, 0], [0, 0, 0, 0]), "fullIndices[0, 0] is 2");
        yield return Case(() => BlockSparseMask.FromBlocks(16, 16, 8, 8, 1, 1, [2, 0], [1, 0, 0, 0], [0, 0], [0, 0, 0, 0]), "not strictly increasing");
        yield return Case(() => BlockSparseMask.FromBlocks(16, 16, 8, 8, 1, 1, [1, 0], [0, 0, 0, 0], [1, 0], [0, 0, 0, 0], new bool[256]), "both full and partial");
        yield return Case(() => BlockSparseMask.FromBlocks(16, 16, 8, 8, 1, 1, [1], [0, 0], [0], [0, 0]), "fullCounts has 1 entries");
        yield return Case(() => BlockSparseMask.FromBlocks(16, 16, 8, 8, 1, 1, [3, 0], [0, 1, 0, 0], [0, 0], [0, 0, 0, 0]), "fullCounts[0] is 3");
        yield return Case(() => BlockSparseMask.FromBlocks(16, 16, 8, 8, 1, 1, [0, 0], [0, 0, 0, 0], [1, 0], [0, 0, 0, 0]), "element mask is needed");
        yield return Case(() => BlockSparseMask.FromDense(new bool[10], 4, 4), "visible has 10 elements");

        static TestCaseData Case(TestDelegate build, string expects) => new TestCaseData(build, expects).SetName($"A malformed block mask is refused ({expects})");
    }

    [TestCaseSource(nameof(BadMasks))]
    public void A_malformed_block_mask_is_refused(TestDelegate build, string expects)
    {
        var error = (ArgumentException)Assert.Throws(Is.InstanceOf<ArgumentException>(), build)!;
        Assert.That(error.Message, Does.Contain(expects));
    }

    [Test]
    public void A_block_mask_that_disagrees_with_the_call_or_joins_another_mask_is_refused()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var shape = new AttentionShape(1, 2, 1, 16, 16, 32);
        var (q, k, v) = Inputs.For(shape);
        var mask = BlockSparseMask.FromDense(Enumerable.Repeat(true, 256).ToArray(), 16, 16, 8);
        var wrongLength = Assert.Throws<ArgumentException>(() => engine.Attention(q, k, v, shape with { KeyLength = 17 },
            new AttentionOptions { BlockMask = mask }))!;
        Assert.That(wrongLength.Message, Does.Contain("options.BlockMask covers 16 x 16"));
        var combined = Assert.Throws<ArgumentException>(() => engine.Attention(q, k, v, shape, new AttentionOptions { BlockMask = mask, Causal = true }))!;
        Assert.That(combined.Message, Does.Contain("does not combine"));
        var heads = Assert.Throws<ArgumentException>(() => engine.Attention(q, k, v, shape,
            new AttentionOptions { BlockMask = BlockSparseMask.FromDense(new bool[3 * 256], 16, 16, 8, heads: 3) }))!;
        Assert.That(heads.Message, Does.Contain("options.BlockMask has 3 heads"));
        Inputs.AssertEngineWorks(engine);
    }
}
