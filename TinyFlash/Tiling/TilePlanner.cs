using ILGPU.Runtime;

namespace TinyFlash.Tiling;

/// <summary>
/// The one place a forward call's configuration comes from: the tile (through <see cref="WarpGroupPlanner"/> and
/// <see cref="TensorCorePlanner"/> for the tensor-core kernels and <see cref="PortableTilePlanner"/> for the portable
/// one) and the number of key splits. The
/// cost model is written down in <c>docs/tiling.md</c>.
/// </summary>
/// <remarks>
/// Key splits follow FlashAttention-2's heuristic. A grid of G groups on a device with M multiprocessors, each
/// holding R resident groups of the tile (shared memory, registers and threads decide R), runs in G/(M·R) waves;
/// the last one is partly idle, so the useful fraction is waves / ⌈waves⌉. A grid that fills 80% of one wave
/// already is not split (a split costs a combine pass and writes fp32 partials). Otherwise each split count s from 1
/// to <see cref="MaxKeySplits"/> (and at most the key tiles a block visits) gives G·s groups; counts that do not
/// change the tiles per split are skipped, and the smallest s whose efficiency is within 85% of the best wins. The
/// workspace the partials need (rows·s·(d + 1) floats) must stay under the engine's bound. The CPU accelerator gains
/// nothing from splits (its groups run one after another) and never gets them unless forced.
/// </remarks>
internal static class TilePlanner
{
    /// <summary>Most groups one query block's keys are split across.</summary>
    public const int MaxKeySplits = 128;

    /// <summary>Shared memory the CUDA runtime reserves per resident group (sm_80 and later).</summary>
    private const int ReservedSharedMemoryPerGroup = 1024;

    /// <summary>The planner's choice: its best tile and the key splits for it.</summary>
    /// <exception cref="NotSupportedException">No tile of the kernel family fits the device.</exception>
    public static ExecutionPlan Plan(PlanRequest request, DeviceFacts device, long workspaceLimitBytes) =>
        Candidates(request, device, workspaceLimitBytes)[0];

    /// <summary>
    /// The configurations worth timing, the planner's choice first: the best few tiles, each with the planner's split
    /// count for it and, on GPUs, also no split and twice and half the splits, and the best tensor-core tile also with
    /// three pipeline stages and with the most that cost no resident group, and in the other grid order where there
    /// are several heads and query blocks. All fit the device.
    /// </summary>
    /// <exception cref="NotSupportedException">No tile of the kernel family fits the device.</exception>
    public static IReadOnlyList<ExecutionPlan> Candidates(PlanRequest request, DeviceFacts device, long workspaceLimitBytes)
    {
        var shape = request.Shape;
        IReadOnlyList<ForwardPlan> tiles = request.TensorCores
            ? TensorCoreTiles(shape, device)
            : PortableTilePlanner.Candidates(shape, device).ToArray();
        if (tiles.Count == 0)
            throw new NotSupportedException(
                $"No {(request.TensorCores ? "tensor-core" : "portable")} tile for head dim {shape.HeadDim} fits device '{device.Name}'.");
        var plans = new List<ExecutionPlan>();
        bool severalBlocks = shape.Batch * shape.QueryHeads > 1 && shape.QueryLength > tiles[0].BlockM;
        var preferred = Order(request.Mask, severalBlocks, shape.Batch * shape.QueryHeads, SlotsFor(tiles[0], device));
        void Add(ForwardPlan tile, int splits, GridOrder? order = null)
        {
            order ??= preferred;
            var plan = new ExecutionPlan(tile, Math.Clamp(splits, 1, MaxUsefulSplits(tile, shape, workspaceLimitBytes)), order.Value);
            if (!plans.Contains(plan))
                plans.Add(plan);
        }
        for (int i = 0; i < Math.Min(3, tiles.Count); i++)
        {
            int splits = KeySplits(tiles[i], shape, device, workspaceLimitBytes);
            Add(tiles[i], splits);
            if (device.Type != AcceleratorType.CPU)
            {
                Add(tiles[i], 1);
                Add(tiles[i], 2 * splits);
                Add(tiles[i], splits / 2);
                if (i == 0 && severalBlocks)
                    Add(tiles[0], splits, preferred == GridOrder.HeadsTogether ? GridOrder.BlocksTogether : GridOrder.HeadsTogether);
                if (i == 0)
                    foreach (var deeper in DeeperPipelines(tiles[0], device))
                        Add(deeper, splits);
            }
        }
        return plans;
    }

    /// <summary>
    /// The tensor-core tiles, best first, the two kernel families alternating so that the tuner's first few candidates
    /// hold both. Where the device has warpgroup products, their kernel leads for every head dim it takes (multiples
    /// of 64); the <c>mma.sync</c> kernel leads for the others, and for a few query rows a head (decode), where its
    /// 16-row blocks waste less than the warpgroup's 64. On the H200 (2026-12-02 session 2 run 1, fp16, N = 4096, one
    /// call, kernel version 2026-12-02.2): head dim 128 warp-group 2x128 404.9 TFLOP/s against tensor-core 4x2x64 298.8
    /// (causal 357.8 against 256.5); head dim 64 warp-group 1x128 337.3 against tensor-core 4x2x128 287.2 (causal 299.3
    /// against 255.7); head dim 256 (run 2) warp-group 2x64 322 against tensor-core 8x1x32 209.
    /// </summary>
    private static ForwardPlan[] TensorCoreTiles(AttentionShape shape, DeviceFacts device)
    {
        IReadOnlyList<ForwardPlan> warps = TensorCorePlanner.Candidates(shape, device);
        IReadOnlyList<ForwardPlan> warpGroups = WarpGroupPlanner.Candidates(shape, device);
        var (first, second) = shape.QueryLength > 64 ? (warpGroups, warps) : (warps, warpGroups);
        return [.. Enumerable.Range(0, Math.Max(first.Count, second.Count))
            .SelectMany(i => new[] { first.ElementAtOrDefault(i), second.ElementAtOrDefault(i) })
            .OfType<ForwardPlan>()];
    }

    /// <summary>A pipelined tile with three stages and with the most that cost no resident group, where they fit.</summary>
    private static IEnumerable<ForwardPlan> DeeperPipelines(ForwardPlan tile, DeviceFacts device) => tile is IPipelinedPlan pipelined
        ? new[] { 3, DeepestFreeStages(pipelined, device) }.Where(s => s <= pipelined.MaxStages).Select(pipelined.WithStages)
            .Where(plan => Fits(plan, device))
        : [];

    /// <summary>
    /// The most pipeline stages <paramref name="plan"/>'s tile can have on <paramref name="device"/> with as many groups
    /// resident on a multiprocessor as with two (and within the group limits).
    /// </summary>
    public static int DeepestFreeStages(IPipelinedPlan plan, DeviceFacts device)
    {
        int resident = ResidentGroups(plan.WithStages(2), device);
        int stages = 2;
        for (int s = 3; s <= plan.MaxStages; s++)
        {
            var deeper = plan.WithStages(s);
            if (!Fits(deeper, device) || ResidentGroups(deeper, device) < resident)
                break;
            stages = s;
        }
        return stages;
    }

    /// <summary>Whether <paramref name="plan"/> respects the per-group limits of <paramref name="device"/>, by its kernel family's planner.</summary>
    public static bool Fits(ForwardPlan plan, DeviceFacts device) => plan switch
    {
        TensorCorePlan t => TensorCorePlanner.Fits(t, device),
        WarpGroupPlan t => WarpGroupPlanner.Fits(t, device),
        TilePlan t => PortableTilePlanner.Fits(t, device),
        _ => false,
    };

    /// <summary>
    /// The grid order: under a causal mask the same query block of every head together, so that the grid starts with
    /// every head's heaviest blocks and ends with the lightest (longest first, a short tail), which the H100 measured
    /// 4–12% faster than each head's blocks together (docs/tiling.md), provided the device holds a group of every head
    /// at once (<paramref name="heads"/> ≤ <paramref name="slots"/>): with more heads than slots the groups in flight
    /// all belong to different heads, none shares its key/value tiles in L2 with another, and each head's blocks
    /// together win (H200, 2026-12-02: 12% at d = 64, B = 16, H = 32, N = 1024; 2% at d = 128, B = 16, H = 16).
    /// Otherwise each head's blocks together, whose groups in flight share key/value tiles in L2 (no measured
    /// difference either way without a mask).
    /// </summary>
    public static GridOrder Order(MaskKind mask, bool severalBlocks, long heads, long slots) =>
        mask == MaskKind.Causal && severalBlocks && heads <= slots ? GridOrder.BlocksTogether : GridOrder.HeadsTogether;

    /// <summary>Groups of <paramref name="tile"/> the whole device holds at once: multiprocessors × resident groups.</summary>
    private static long SlotsFor(ForwardPlan tile, DeviceFacts device) => (long)device.Multiprocessors * ResidentGroups(tile, device);

    /// <summary>The planner's split count for <paramref name="tile"/> on <paramref name="shape"/> (see the remarks).</summary>
    public static int KeySplits(ForwardPlan tile, AttentionShape shape, DeviceFacts device, long workspaceLimitBytes)
    {
        if (device.Type == AcceleratorType.CPU)
            return 1;
        long groups = Groups(tile, shape);
        long capacity = SlotsFor(tile, device);
        if (groups >= 0.8 * capacity)
            return 1;
        int keyTiles = KeyTiles(tile, shape);
        int maxSplits = MaxUsefulSplits(tile, shape, workspaceLimitBytes);
        var efficiency = new double[maxSplits + 1];
        double best = 0;
        for (int s = 1; s <= maxSplits; s++)
        {
            if (s > 1 && CeilDiv(keyTiles, s) == CeilDiv(keyTiles, s - 1))
                continue;
            double waves = (double)groups * s / capacity;
            efficiency[s] = waves / Math.Ceiling(waves);
            best = Math.Max(best, efficiency[s]);
        }
        for (int s = 1; s <= maxSplits; s++)
            if (efficiency[s] >= 0.85 * best)
                return s;
        return 1;
    }

    /// <summary>Groups of <paramref name="tile"/> that fit on one multiprocessor at once (shared memory, registers, threads).</summary>
    public static int ResidentGroups(ForwardPlan tile, DeviceFacts device)
    {
        long bySharedMemory = device.SharedMemoryPerMultiprocessor / (tile.SharedBytes + ReservedSharedMemoryPerGroup);
        long byRegisters = device.RegistersPerMultiprocessor / ((long)tile.EstimatedRegisters * tile.Threads);
        long byThreads = device.MaxThreadsPerMultiprocessor / tile.Threads;
        return (int)Math.Max(1, Math.Min(bySharedMemory, Math.Min(byRegisters, byThreads)));
    }

    /// <summary>Bytes of workspace <paramref name="splits"/> key splits need: fp32 partial rows and their log-sum-exp.</summary>
    public static long WorkspaceBytes(AttentionShape shape, int splits) =>
        splits == 1 ? 0 : 4L * shape.Batch * shape.QueryHeads * shape.QueryLength * splits * (shape.HeadDim + 1);

    /// <summary>Splits beyond which a split would get no key tile, or the workspace would pass its bound.</summary>
    private static int MaxUsefulSplits(ForwardPlan tile, AttentionShape shape, long workspaceLimitBytes)
    {
        long perSplit = WorkspaceBytes(shape, 2) / 2;
        long byWorkspace = perSplit == 0 ? MaxKeySplits : workspaceLimitBytes / perSplit;
        return (int)Math.Max(1, Math.Min(Math.Min(MaxKeySplits, KeyTiles(tile, shape)), byWorkspace));
    }

    private static long Groups(ForwardPlan tile, AttentionShape shape) =>
        (long)CeilDiv(shape.QueryLength, tile.BlockM) * shape.Batch * shape.QueryHeads;

    private static int KeyTiles(ForwardPlan tile, AttentionShape shape) => CeilDiv(shape.KeyLength, tile.BlockN);

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;
}
