using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Tiling;

/// <summary>
/// The planner's whole decision (tile and key splits) pinned for the H100 (Hopper: the H200 has the same
/// multiprocessors, shared memory and registers) on the shapes the targets name, and its limits checked on real and
/// synthetic devices: no plan exceeds a device limit or the workspace bound.
/// </summary>
public class TilePlannerTests
{
    private const long Workspace = 512L << 20;

    private static readonly DeviceFacts CpuDefault = new("CPUAccelerator", AcceleratorType.CPU, 4, 16, int.MaxValue, 1, int.MaxValue, int.MaxValue, 16);
    private static readonly DeviceFacts PoclCpu = new("cpu-skylake-avx512", AcceleratorType.OpenCL, 4096, 4096, 2 << 20, 16, 2 << 20, int.MaxValue, 4096);
    private static readonly DeviceFacts SmallSharedCuda = new("48 KiB CUDA", AcceleratorType.Cuda, 32, 1024, 48 * 1024, 16, 64 * 1024, 65536, 2048);
    private static readonly DeviceFacts AmdLikeOpenCL = new("64 KiB OpenCL GPU", AcceleratorType.OpenCL, 64, 256, 64 * 1024, 60, 64 * 1024, int.MaxValue, 2560);

    private static PlanRequest Request(AttentionShape shape, AttentionOptions? options = null, ElementType type = ElementType.Float16, bool tensorCores = true) =>
        new PlanRequest(ForwardAttention.LaunchShape(AttentionValidator.Validate(shape, options), long.MaxValue), type,
            AttentionValidator.Validate(shape, options).Mask, options?.CacheLengths is not null, tensorCores);

    [Test]
    public void A_grid_that_fills_the_H100_is_not_split()
    {
        var plan = TilePlanner.Plan(Request(new AttentionShape(4, 16, 16, 4096, 4096, 128)), DeviceFacts.H100, Workspace);
        Assert.That(plan.Describe(), Is.EqualTo("warp-group 2x128"));
    }

    [Test]
    public void Batch_1_with_8_heads_at_2048_fills_one_wave_of_the_H100_without_splits()
    {
        // 16 blocks x 8 heads = 128 groups; the warpgroup tile (161 KiB of shared memory) is one a multiprocessor, so 132
        // slots: a wave 97 % full. The mma.sync tile, two a multiprocessor, would have been split in two.
        var plan = TilePlanner.Plan(Request(new AttentionShape(1, 8, 8, 2048, 2048, 128)), DeviceFacts.H100, Workspace);
        Assert.That(plan.Describe(), Is.EqualTo("warp-group 2x128"));
        Assert.That(TilePlanner.KeySplits(new TensorCorePlan(4, 2, 64, 128), new AttentionShape(1, 8, 8, 2048, 2048, 128), DeviceFacts.H100,
            Workspace), Is.EqualTo(2));
    }

    [Test]
    public void Head_dim_64_runs_on_the_warpgroup_kernel_and_the_tuner_also_times_the_mma_sync_one()
    {
        var candidates = TilePlanner.Candidates(Request(new AttentionShape(4, 32, 32, 4096, 4096, 64)), DeviceFacts.H100, Workspace);
        Assert.That(candidates[0].Describe(), Is.EqualTo("warp-group 1x128"));
        Assert.That(candidates.Select(c => c.Tile).OfType<TensorCorePlan>().Select(t => t.Describe()), Does.Contain("tensor-core 4x2x128"));
    }

    [Test]
    public void Head_dim_256_runs_on_the_warpgroup_kernel_with_two_warpgroups_of_64_rows()
    {
        var plan = TilePlanner.Plan(Request(new AttentionShape(4, 8, 8, 4096, 4096, 256)), DeviceFacts.H100, Workspace);
        Assert.That(plan.Describe(), Is.EqualTo("warp-group 2x64"));
    }

    [Test]
    public void A_device_without_warpgroup_products_never_gets_a_warpgroup_plan()
    {
        var ampereLike = DeviceFacts.H100 with { Name = "sm_80-like", WarpGroupMma = false };
        foreach (int headDim in new[] { 64, 128, 256 })
        {
            var candidates = TilePlanner.Candidates(Request(new AttentionShape(4, 2048 / headDim, 2048 / headDim, 4096, 4096, headDim)), ampereLike, Workspace);
            Assert.That(candidates.Select(c => c.Tile), Is.All.InstanceOf<TensorCorePlan>(), $"head dim {headDim}");
        }
    }

    [TestCase(8, 32768, 6)]
    [TestCase(1, 4096, 32)]
    [TestCase(1, 32768, 40)]
    public void Decode_with_grouped_heads_gets_one_warp_per_key_value_head_and_enough_splits_to_fill_the_H100(int batch, int keys, int splits)
    {
        var plan = TilePlanner.Plan(Request(new AttentionShape(batch, 32, 8, 1, keys, 128), new AttentionOptions { Causal = true }),
            DeviceFacts.H100, Workspace);
        Assert.That(plan.Tile.Describe(), Is.EqualTo("tensor-core 1x1x64"), "4 packed query heads need one 16-row warp");
        Assert.That(plan.KeySplits, Is.EqualTo(splits));
    }

    [Test]
    public void Sixteen_new_tokens_of_grouped_heads_pack_into_64_row_blocks_with_splits_to_fill_the_H100()
    {
        var plan = TilePlanner.Plan(Request(new AttentionShape(8, 32, 8, 16, 32768, 128), new AttentionOptions { Causal = true }),
            DeviceFacts.H100, Workspace);
        Assert.That(plan.Describe(), Is.EqualTo("tensor-core 4x1x64, 4 key splits"), "4 heads x 16 positions: 64 rows a key/value head");
    }

    [Test]
    public void The_CPU_accelerator_is_never_split()
    {
        var request = Request(new AttentionShape(1, 1, 1, 1, 4096, 64), type: ElementType.Float32, tensorCores: false);
        Assert.That(TilePlanner.Candidates(request, CpuDefault, Workspace).Select(p => p.KeySplits), Is.All.EqualTo(1));
    }

    [Test]
    public void A_small_workspace_bound_caps_the_splits()
    {
        var shape = new AttentionShape(1, 8, 8, 2048, 2048, 128);
        long bound = TilePlanner.WorkspaceBytes(shape, 2) - 1;
        foreach (var plan in TilePlanner.Candidates(Request(shape), DeviceFacts.H100, bound))
            Assert.That(plan.KeySplits, Is.EqualTo(1), plan.Describe());
    }

    [Test]
    public void No_candidate_exceeds_a_device_limit_or_the_workspace_bound()
    {
        foreach (var device in new[] { DeviceFacts.H100, CpuDefault, PoclCpu, SmallSharedCuda, AmdLikeOpenCL })
        foreach (int headDim in AttentionValidator.SupportedHeadDims)
        foreach (var (batch, heads, queries, keys) in new[] { (1, 8, 1, 4096), (8, 32, 1, 32768), (1, 8, 2048, 2048), (4, 16, 4096, 4096), (2, 2, 100, 7) })
        foreach (bool tensorCores in new[] { false, true })
        {
            var shape = new AttentionShape(batch, heads, Math.Max(1, heads / 4), queries, keys, headDim);
            var launch = ForwardAttention.LaunchShape(AttentionValidator.Validate(shape, null), long.MaxValue);
            var request = Request(shape, tensorCores: tensorCores && TensorCorePlanner.Candidates(launch, device).Count > 0);
            if (!request.TensorCores && !PortableTilePlanner.Candidates(launch, device).Any())
            {
                Assert.Throws<NotSupportedException>(() => TilePlanner.Candidates(request, device, Workspace), "no tile fits: said, not guessed");
                continue;
            }
            foreach (var plan in TilePlanner.Candidates(request, device, Workspace))
            {
                string what = $"{device.Name} {shape} {plan.Describe()}";
                Assert.That(plan.Tile.Threads, Is.LessThanOrEqualTo(device.MaxGroupSize), what);
                Assert.That(plan.Tile.SharedBytes, Is.LessThanOrEqualTo(device.MaxSharedMemoryPerGroup), what);
                Assert.That(TilePlanner.WorkspaceBytes(request.Shape, plan.KeySplits), Is.LessThanOrEqualTo(Workspace), what);
                Assert.That(plan.KeySplits, Is.InRange(1, TilePlanner.MaxKeySplits), what);
                if (device.Type == AcceleratorType.Cuda)
                    Assert.That((long)plan.Tile.EstimatedRegisters * plan.Tile.Threads, Is.LessThanOrEqualTo(device.RegistersPerMultiprocessor), what);
            }
        }
    }

    [Test]
    public void Candidates_start_with_the_planners_choice_and_hold_no_duplicates()
    {
        var request = Request(new AttentionShape(1, 8, 8, 2048, 2048, 128));
        var candidates = TilePlanner.Candidates(request, DeviceFacts.H100, Workspace);
        Assert.That(candidates[0], Is.EqualTo(TilePlanner.Plan(request, DeviceFacts.H100, Workspace)));
        Assert.That(candidates, Is.Unique);
        Assert.That(candidates.Select(c => c.KeySplits), Does.Contain(1), "no split is always a candidate on a GPU");
        Assert.That(candidates[0].Order, Is.EqualTo(GridOrder.HeadsTogether), "no mask: each head's blocks together");
        Assert.That(candidates.Where(c => c.Order == GridOrder.BlocksTogether).Select(c => c.Tile), Is.EqualTo(new[] { candidates[0].Tile }),
            "the other grid order is timed for the best tile");
        Assert.That(candidates.Select(c => c.Tile).OfType<WarpGroupPlan>().Select(t => t.Stages), Is.SupersetOf(new[] { 2, 3 }),
            "and another pipeline depth than the planner's");
        Assert.That(candidates.Select(c => c.Tile).OfType<TensorCorePlan>(), Is.Not.Empty, "and the other kernel family");
    }

    [Test]
    public void A_causal_grid_takes_the_same_block_of_every_head_together_and_decode_keeps_the_default_order()
    {
        var causal = Request(new AttentionShape(4, 16, 16, 4096, 4096, 128), new AttentionOptions { Causal = true });
        Assert.That(TilePlanner.Plan(causal, DeviceFacts.H100, Workspace).Describe(), Is.EqualTo("warp-group 2x128, blocks together"));
        var decode = Request(new AttentionShape(8, 32, 8, 1, 32768, 128), new AttentionOptions { Causal = true });
        Assert.That(TilePlanner.Plan(decode, DeviceFacts.H100, Workspace).Order, Is.EqualTo(GridOrder.HeadsTogether),
            "one query block a head: no order to choose");
        var manyHeads = Request(new AttentionShape(16, 32, 32, 1024, 1024, 64), new AttentionOptions { Causal = true });
        Assert.That(TilePlanner.Plan(manyHeads, DeviceFacts.H100, Workspace).Order, Is.EqualTo(GridOrder.HeadsTogether),
            "512 heads on fewer slots: blocks together would put no two groups of a head in flight");
        Assert.That(TilePlanner.Candidates(manyHeads, DeviceFacts.H100, Workspace).Select(c => c.Order), Does.Contain(GridOrder.BlocksTogether),
            "the tuner still times the other order");
        var window = Request(new AttentionShape(4, 16, 16, 4096, 4096, 128), new AttentionOptions { Causal = true, WindowLeft = 256 });
        Assert.That(TilePlanner.Plan(window, DeviceFacts.H100, Workspace).Order, Is.EqualTo(GridOrder.HeadsTogether),
            "a window's blocks weigh the same");
    }

    [Test]
    public void The_mma_sync_planner_gives_every_tile_two_pipeline_stages_and_the_tuner_times_deeper_ones()
    {
        // H100, 227 KiB a multiprocessor: 4x2x64 at d=128 holds Q (34 KiB) and two stages of K and V (17 KiB each) twice
        // over; a third stage would leave room for one group only. 8x1x32 at d=256 fits once either way, up to four stages.
        var d128 = TensorCorePlanner.Candidates(new AttentionShape(4, 16, 16, 4096, 4096, 128), DeviceFacts.H100)[0];
        Assert.That((d128.Describe(), d128.Stages, TilePlanner.DeepestFreeStages(d128, DeviceFacts.H100)),
            Is.EqualTo(("tensor-core 4x2x64", 2, 2)));
        var d256 = TensorCorePlanner.Candidates(new AttentionShape(4, 8, 8, 4096, 4096, 256), DeviceFacts.H100)[0];
        Assert.That((d256.Describe(), TilePlanner.DeepestFreeStages(d256, DeviceFacts.H100)), Is.EqualTo(("tensor-core 8x1x32", 4)));
        Assert.That(TilePlanner.ResidentGroups(d256.WithStages(4), DeviceFacts.H100), Is.EqualTo(TilePlanner.ResidentGroups(d256, DeviceFacts.H100)));
        var withoutWarpGroups = DeviceFacts.H100 with { WarpGroupMma = false };
        var tuned = TilePlanner.Candidates(Request(new AttentionShape(4, 8, 8, 4096, 4096, 256)), withoutWarpGroups, Workspace);
        Assert.That(tuned.Select(c => c.Tile).OfType<TensorCorePlan>().Where(t => t.Warps == 8 && t.BlockN == 32).Select(t => t.Stages).Distinct(),
            Is.EquivalentTo(new[] { 2, 3, 4 }));
    }

    [TestCase("tensor-core 4x2x64")]
    [TestCase("tensor-core 8x1x32x4")]
    [TestCase("tensor-core 1x1x64, 6 key splits")]
    [TestCase("tensor-core 4x2x64x3, 2 key splits, blocks together")]
    [TestCase("warp-group 2x128x3")]
    [TestCase("warp-group 1x64, 4 key splits, blocks together")]
    [TestCase("portable 64x16, blocks together")]
    [TestCase("portable 64x16, 2 key splits")]
    public void A_plan_reads_back_from_its_description(string text) =>
        Assert.That(ExecutionPlan.Parse(text, 128).Describe(), Is.EqualTo(text));

    [TestCase("tensor-core 4x2")]
    [TestCase("tensor-core 4x2x64, 0 key splits")]
    [TestCase("portable 64x16, many key splits")]
    [TestCase("wgmma 64x128")]
    [TestCase("warp-group 2x96")]
    [TestCase("warp-group 2")]
    [TestCase("tensor-core 3x3x64")]
    [TestCase("tensor-core 4x2x64x5")]
    [TestCase("tensor-core 4x2x64, heads together")]
    public void A_malformed_description_is_a_format_error(string text) =>
        Assert.Throws<FormatException>(() => ExecutionPlan.Parse(text, 128));
}
