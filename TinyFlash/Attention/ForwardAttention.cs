using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using TinyFlash.Engine;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;
using TinyFlash.Kernels.Shared;
using TinyFlash.Kernels.TensorCore;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;
using TinyFlash.Tiling;

namespace TinyFlash.Attention;

/// <summary>
/// The forward operator: from a validated problem and device views to a launch of the tensor-core kernel (CUDA,
/// fp16/bf16) or the portable one, with the tile and key splits of an <see cref="ExecutionPlan"/> and the kernel
/// specialised on the tile; with key splits, the partial rows go to the engine's workspace and
/// <see cref="SplitCombineKernel{T, TCodec}"/> merges them into the output.
/// </summary>
/// <remarks>
/// Decode with grouped-query attention: up to <see cref="MaxPackedPositions"/> query positions whose heads share
/// key/value heads are launched with each key/value head's query heads as the rows of one block, row r being
/// position r mod n of the group's query head r / n (<see cref="TensorStrides.Position"/>, which the masks read).
/// The group then reads each key/value byte once for all of them (FlashAttention-2 does the same for one position).
/// In the [batch, heads, sequence] layout, and with one position in either layout, those rows are evenly spaced and
/// this is only a change of strides; with several positions in the [batch, sequence, heads] layout they are not,
/// and the kernel writes its rows to the split workspace, from which the combine puts them in place.
/// </remarks>
internal sealed class ForwardAttention(Accelerator accelerator, KernelCache kernels, DeviceFacts device, WorkspacePool workspace)
{
    // Resolving a kernel's generic instantiation costs microseconds of reflection; calls (decode above all) must not
    // pay it every time, so the entry points are resolved once per configuration.
    private static readonly ConcurrentDictionary<(ElementType Type, ForwardPlan Plan, bool Modified), MethodInfo> TensorCoreEntryPoints = new();
    private static readonly ConcurrentDictionary<(Type Element, Type Codec, TilePlan Plan, bool StaticShared, bool Modified), MethodInfo> PortableEntryPoints = new();
    private static readonly ConcurrentDictionary<(Type Storage, Type Codec), MethodInfo> CombineEntryPoints = new();
    private readonly ConcurrentDictionary<(int HeadDim, bool FewQueries), bool> tensorCoreTiles = new();

    /// <summary>
    /// Whether kernels take their tiles from a static shared block (OpenCL; see <see cref="StaticSharedTiles{TFloat4s}"/>)
    /// rather than dynamic shared memory. Tests set it on a CPU engine to run OpenCL's kernels where CI can.
    /// </summary>
    public bool StaticSharedMemory { get; set; } = accelerator.AcceleratorType == AcceleratorType.OpenCL;

    /// <summary>
    /// Whether fp16 and bf16 run on the tensor-core kernel: on CUDA devices of compute capability 8.0 and later
    /// (<c>mma.sync</c> m16n8k16 with bf16, <c>cp.async</c>). Tests set it on the warp-32 CPU engine, where the
    /// kernel's instructions run as their portable twins.
    /// </summary>
    public bool TensorCores { get; set; } =
        accelerator is CudaAccelerator cuda && cuda.Architecture is { Major: >= 8 };

    /// <summary>
    /// Whether the warpgroup kernel (<see cref="WarpGroupForwardKernel{TElement, TScores, TOutput, TShape, TModifier}"/>)
    /// may run where <see cref="TensorCores"/> do: on devices with Hopper's warpgroup products. Tests set it on the
    /// warp-32 CPU engine, where its instructions run as their portable twins.
    /// </summary>
    public bool WarpGroups { get; set; } = device.WarpGroupMma;

    /// <summary>Whether a call of <paramref name="request"/> may run <paramref name="tile"/>'s kernel family on this device.</summary>
    public bool Allows(PlanRequest request, ForwardPlan tile) => TilePlanner.Fits(tile, device) && tile switch
    {
        TensorCorePlan => request.TensorCores,
        WarpGroupPlan => request.TensorCores && WarpGroups,
        _ => true,
    };

    /// <summary>
    /// What the plan of a call depends on: the launch shape (query heads packed as rows for grouped-query decode),
    /// the mask kind and whether the tensor-core kernel may run (fp16/bf16 where <see cref="TensorCores"/> allows it,
    /// every tensor 16-byte aligned, a tile for the head dim).
    /// </summary>
    public PlanRequest Request(AttentionProblem problem, ElementType type, bool aligned)
    {
        var shape = LaunchShape(problem, workspace.LimitBytes);
        bool tensorCores = aligned && TensorCores && type != ElementType.Float32
            && tensorCoreTiles.GetOrAdd((shape.HeadDim, shape.QueryLength <= 64),
                static (key, device) => TensorCorePlanner.Candidates(
                    new AttentionShape(1, 1, 1, key.FewQueries ? 1 : 1024, 1024, key.HeadDim), device).Count > 0, device);
        return new PlanRequest(shape, type, problem.Mask, problem.KeyLengths is not null || problem.Packed is not null, tensorCores,
            Modified(problem));
    }

    /// <summary>Whether every view starts at a 16-byte boundary (what <c>cp.async</c> needs).</summary>
    public static bool Aligned<T>(params ReadOnlySpan<ArrayView<T>> views) where T : unmanaged => Aligned(16, views);

    /// <summary>Whether every view starts at a multiple of <paramref name="bytes"/> (absent, empty views count as aligned).</summary>
    public static bool Aligned<T>(long bytes, params ReadOnlySpan<ArrayView<T>> views) where T : unmanaged
    {
        foreach (var view in views)
            if (view.Length > 0 && view.LoadEffectiveAddressAsPtr() % bytes != 0)
                return false;
        return true;
    }

    /// <summary>
    /// Launches the forward pass on the accelerator's default stream (asynchronously on GPUs) with
    /// <paramref name="plan"/>, which must suit <paramref name="request"/> (<see cref="Request"/> of the same call).
    /// </summary>
    /// <typeparam name="T">Storage: <see cref="float"/> for fp32, <see cref="ushort"/> bits for fp16 and bf16.</typeparam>
    /// <exception cref="ArgumentException">A plan that does not fit the shape, the device or the tensors.</exception>
    public void Run<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ArrayView<T> output,
        ArrayView<float> logSumExp, ElementType type, AttentionProblem problem, PlanRequest request, ExecutionPlan plan)
        where T : unmanaged
    {
        var shape = request.Shape;
        if (plan.Tile.HeadDim != shape.HeadDim)
            throw new ArgumentException($"Tile plan {plan.Describe()} is for head dim {plan.Tile.HeadDim}, not {shape.HeadDim}.", nameof(plan));
        long workspaceBytes = TilePlanner.WorkspaceBytes(shape, plan.KeySplits);
        if (workspaceBytes > workspace.LimitBytes)
            throw new ArgumentException(
                $"Plan {plan.Describe()} needs {workspaceBytes} bytes of workspace; the engine's bound is {workspace.LimitBytes}.", nameof(plan));
        if (plan.Tile is TensorCorePlan or WarpGroupPlan && !Allows(request, plan.Tile))
            throw new ArgumentException(
                $"Tile plan {plan.Tile.Describe()} needs fp16/bf16 tensors at 16-byte aligned addresses on a device with warp size 32" +
                (plan.Tile is WarpGroupPlan ? " and Hopper's warpgroup instructions (compute capability 9.0)." : "."), nameof(plan));

        if (plan.Tile is TensorCorePlan or WarpGroupPlan)
        {
            var parameters = Parameters(query.Cast<ushort>(), key.Cast<ushort>(), value.Cast<ushort>(), output.Cast<ushort>(),
                logSumExp, problem, shape, plan, default);
            RunTensorCore(query, key, value, type, parameters, plan.Tile, request.Modified);
            if (parameters.SplitOutput.Length > 0)
                Combine(parameters, type);
        }
        else
        {
            var portable = (TilePlan)plan.Tile;
            var parameters = Parameters(query, key, value, output, logSumExp, problem, shape, plan, portable.Geometry);
            RunPortable(parameters, type, portable, request.Modified);
            if (parameters.SplitOutput.Length > 0)
                Combine(parameters, type);
        }
    }

    /// <summary>
    /// Compiles and loads the kernels a call of <paramref name="request"/> with <paramref name="plan"/> would launch,
    /// without launching them, and says whether the tile's compiled kernel can run a group of the tile's size (on CUDA
    /// its register use may allow fewer threads than the planner's estimate assumed).
    /// </summary>
    public bool Compile(PlanRequest request, ExecutionPlan plan)
    {
        var (storage, codec) = StorageOf(request.Type, accelerator.AcceleratorType);
        var launcher = typeof(Action<,,>).MakeGenericType(typeof(AcceleratorStream), typeof(KernelConfig),
            typeof(AttentionParams<>).MakeGenericType(storage));
        var (_, maxThreads) = plan.Tile is TilePlan tile
            ? kernels.Load(EntryPoint(storage, codec, tile, StaticSharedMemory, request.Modified), launcher)
            : kernels.Load(TensorCoreEntryPoint(request.Type, plan.Tile, request.Modified), typeof(Action<AcceleratorStream, KernelConfig, TensorCoreParams>));
        if (plan.KeySplits > 1)
            kernels.Load(CombineEntryPoint(storage, codec), launcher);
        return plan.Tile.Threads <= maxThreads;
    }

    /// <summary>Query positions up to which grouped-query decode packs a key/value head's query heads into one block.</summary>
    public const int MaxPackedPositions = 16;

    /// <summary>
    /// The shape the grid is sized by: for up to <see cref="MaxPackedPositions"/> query positions of grouped-query
    /// attention, KeyValueHeads heads of (QueryHeads/KeyValueHeads)·positions rows each (see the remarks); for packed
    /// sequences, one batch element per sequence with the longest sequence's lengths; else the shape. Heads whose
    /// rows the output does not space evenly are packed only if their workspace fits <paramref name="workspaceLimitBytes"/>.
    /// </summary>
    public static AttentionShape LaunchShape(AttentionProblem problem, long workspaceLimitBytes)
    {
        var s = problem.Shape;
        return PacksQueryHeads(problem) && (PackedQueryStrides(s).EvenRows || 4L * s.LogSumExpElements * (s.HeadDim + 1) <= workspaceLimitBytes)
            ? s with { QueryHeads = s.KeyValueHeads, QueryLength = s.QueryHeads / s.KeyValueHeads * s.QueryLength }
            : SequenceShape(problem);
    }

    /// <summary>
    /// The shape by sequence: for packed sequences one batch element per sequence with the longest sequence's lengths,
    /// else the shape (what the backward's grids are sized by: it never packs query heads as rows).
    /// </summary>
    public static AttentionShape SequenceShape(AttentionProblem problem) => problem.Packed is { } packed
        ? problem.Shape with { Batch = packed.Count, QueryLength = Math.Max(1, packed.LongestQuery), KeyLength = Math.Max(1, packed.LongestKey) }
        : problem.Shape;

    /// <summary>
    /// The softcap, ALiBi slopes and bias of a call as the kernels read them (host values copied to the device); a
    /// block-sparse mask's element mask goes in as a bias of 0 and −∞ read only in the tiles its work list marks, where
    /// <paramref name="tile"/>'s work list marks any (<see cref="BlockSparseMask.HasPartialTiles"/>).
    /// </summary>
    private ScoreModifierParams ModifierParams(AttentionProblem problem, ForwardPlan tile)
    {
        var shape = problem.Shape;
        var m = problem.Modifiers;
        var bias = m?.Bias;
        var blockMask = problem.BlockMask is { } mask && mask.HasPartialTiles(tile.BlockM, tile.BlockN) ? mask : null;
        var dropout = problem.Dropout;
        if (m is null && blockMask is null && dropout is null)
            return default;
        if (bias is { HostValues: null })
            AttentionValidator.RequireView(bias.DeviceValues, (long)bias.Batch * bias.Heads * shape.QueryLength * shape.KeyLength,
                accelerator, "options.Bias");
        var uploaded = workspace.Upload(m?.AlibiSlopes ?? [], bias?.HostValues ?? blockMask?.ElementBias ?? []);
        int plane = shape.QueryLength * shape.KeyLength;
        int biasBatch = bias?.Batch ?? blockMask?.Batch ?? 1, biasHeads = bias?.Heads ?? blockMask?.Heads ?? 1;
        bool hasBias = bias is not null || blockMask is not null;
        return new ScoreModifierParams
        {
            Bias = !hasBias ? default : bias is { HostValues: null } ? bias.DeviceValues : uploaded[1],
            BiasBatchStride = !hasBias || biasBatch == 1 ? 0 : biasHeads * plane,
            BiasHeadStride = !hasBias || biasHeads == 1 ? 0 : plane,
            BiasInMaskedTilesOnly = blockMask is not null ? 1 : 0,
            AlibiSlopes = m?.AlibiSlopes is null ? default : uploaded[0],
            AlibiBatchStride = m?.AlibiPerBatch == true ? shape.QueryHeads : 0,
            Softcap = m?.Softcap ?? 0f,
            // Above 255/256 nothing is kept: threshold 255 with scale 0 (the byte comparison needs a threshold below 256).
            DropoutThreshold = dropout is null ? 0 : Math.Min(Numerics.Philox.AttentionThreshold(dropout.Probability), 255u),
            DropoutScale = dropout is null ? 1f : Numerics.Philox.AttentionKeepScale(dropout.Probability),
            DropoutKey = Numerics.PhiloxKey.Of(dropout?.Seed ?? 0),
            DropoutOffset = dropout?.Offset ?? 0,
        };
    }

    /// <summary>
    /// Whether scores are modified: softcap, ALiBi, a bias, dropout, or a block-sparse mask whose element mask some tile
    /// may need (<see cref="BlockSparseMask.MayHavePartialTiles"/>: decided before the tile is).
    /// </summary>
    public static bool Modified(AttentionProblem problem) =>
        problem.Modifiers is not null || problem.BlockMask is { MayHavePartialTiles: true } || problem.Dropout is not null;

    /// <summary>A block-sparse mask's work lists in the tiles of <paramref name="tile"/>, and its groups' order by work, on the device.</summary>
    private void SetTileList<T>(ref AttentionParams<T> parameters, AttentionProblem problem, ForwardPlan tile) where T : unmanaged
    {
        // The int workspace holds one upload at a time: a block mask never comes with cache lengths or packed
        // sequences (AttentionValidator refuses the combination), so this upload does not overwrite theirs.
        if (problem.BlockMask is not { } mask)
            return;
        int[] tiles = mask.KernelTiles(tile.BlockM, tile.BlockN);
        int[] order = mask.GroupOrder(tile.BlockM, tile.BlockN, problem.Shape.Batch, problem.Shape.QueryHeads);
        var uploaded = workspace.Ints([.. tiles, .. order]);
        parameters.TileList = uploaded.SubView(0, tiles.Length);
        parameters.GroupOrder = uploaded.SubView(tiles.Length, order.Length);
        parameters.TileListEntries = mask.Batch * mask.Heads * parameters.QueryBlocks + 1;
        parameters.TilePlaneBatchStride = mask.Batch == 1 ? 0 : mask.Heads;
        parameters.TilePlaneHeadStride = mask.Heads == 1 ? 0 : 1;
    }

    /// <summary>The per-sequence data of a call on the device: cache lengths, or the packed sequences' offsets.</summary>
    private (ArrayView<int> KeyLengths, ArrayView<int> QueryOffsets, ArrayView<int> KeyOffsets) SequenceViews(AttentionProblem problem)
    {
        if (problem.KeyLengths is { } lengths)
            return (workspace.Ints(lengths), default, default);
        if (problem.Packed is not { } packed)
            return default;
        var offsets = workspace.Ints(packed.Concatenated());
        return (default, offsets.SubView(0, packed.QueryOffsets.Length), offsets.SubView(packed.QueryOffsets.Length, packed.KeyOffsets.Length));
    }

    /// <summary>
    /// Up to <see cref="MaxPackedPositions"/> query positions and several query heads a key/value head, with nothing
    /// that counts rows by head or by sequence (score modifiers, dropout, block-sparse masks, packed sequences); any
    /// band mask is fine, each packed row reading its own position's band.
    /// </summary>
    private static bool PacksQueryHeads(AttentionProblem problem) =>
        problem.Packed is null && problem.Modifiers is null && problem.BlockMask is null && problem.Dropout is null
        && problem.Shape.QueryLength <= MaxPackedPositions && problem.Shape.QueryHeads > problem.Shape.KeyValueHeads;

    /// <summary>
    /// Strides of the query and output tensors with each key/value head's query heads packed as the rows of one
    /// launch head (see the remarks): heads of the launch are key/value heads, row r is position r mod n of query
    /// head r / n. With one position only the head stride matters, so rows step by it.
    /// </summary>
    private static TensorStrides PackedQueryStrides(AttentionShape shape)
    {
        var strides = Strides(shape.Layout, shape.QueryHeads, shape.QueryLength, shape.HeadDim);
        return new TensorStrides
        {
            Batch = strides.Batch,
            Head = strides.Head * (shape.QueryHeads / shape.KeyValueHeads),
            Row = shape.QueryLength == 1 ? strides.Head : strides.Row,
            PackedPositions = shape.QueryLength,
            PackedHead = strides.Head,
        };
    }

    private void RunPortable<T>(AttentionParams<T> parameters, ElementType type, TilePlan tile, bool modified) where T : unmanaged
    {
        var launch = LoadPortable<T>(StorageOf(type, accelerator.AcceleratorType).Codec, tile, modified);
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D(Groups(parameters)), new Index1D(tile.Threads),
                StaticSharedMemory ? SharedMemoryConfig.Empty : SharedMemoryConfig.RequestDynamic<float>(4 * tile.SharedFloat4s)),
            parameters);
    }

    private void RunTensorCore<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ElementType type,
        AttentionParams<ushort> attention, ForwardPlan tile, bool modified) where T : unmanaged
    {
        var (launch, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, TensorCoreParams>>(TensorCoreEntryPoint(type, tile, modified));
        if (tile.Threads > maxThreads)
            throw new ArgumentException(
                $"Tile plan {tile.Describe()} needs {tile.Threads} threads a group; the compiled kernel allows {maxThreads}.", "plan");
        var parameters = new TensorCoreParams
        {
            Attention = attention,
            QueryAddress = (ulong)query.LoadEffectiveAddressAsPtr(),
            KeyAddress = (ulong)key.LoadEffectiveAddressAsPtr(),
            ValueAddress = (ulong)value.LoadEffectiveAddressAsPtr(),
        };
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D(Groups(attention)), new Index1D(tile.Threads),
                SharedMemoryConfig.RequestDynamic<ushort>((int)tile.SharedBytes / 2)),
            parameters);
    }

    /// <summary>Merges the key splits in the workspace into the output, stored as <paramref name="type"/>.</summary>
    private void Combine<T>(AttentionParams<T> parameters, ElementType type) where T : unmanaged
    {
        var entryPoint = CombineEntryPoint(typeof(T), StorageOf(type, accelerator.AcceleratorType).Codec);
        var (launch, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, AttentionParams<T>>>(entryPoint);
        long threads = SplitCombineKernel<float, Float32Codec>.Threads(parameters.SplitLogSumExp.Length / parameters.KeySplits, parameters.HeadDim);
        int groupSize = Math.Min(256, maxThreads);
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D((int)((threads + groupSize - 1) / groupSize)), new Index1D(groupSize)), parameters);
    }

    internal static MethodInfo CombineEntryPoint(Type storage, Type codec) =>
        CombineEntryPoints.GetOrAdd((storage, codec), static key =>
            typeof(SplitCombineKernel<,>).MakeGenericType(key.Storage, key.Codec).GetMethod(nameof(SplitCombineKernel<float, Float32Codec>.Run))!);

    private static int Groups<T>(AttentionParams<T> parameters) where T : unmanaged =>
        parameters.KeySplits * parameters.QueryBlocks * parameters.BatchHeads;

    /// <summary>
    /// The launch argument every forward kernel (and the combine) shares, with the call's per-sequence data, score
    /// modifiers, block-sparse work lists and split workspace on the device.
    /// </summary>
    internal AttentionParams<T> Parameters<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value,
        ArrayView<T> output, ArrayView<float> logSumExp, AttentionProblem problem, AttentionShape launch, ExecutionPlan plan,
        TileGeometry geometry)
        where T : unmanaged
    {
        var sequences = SequenceViews(problem);
        int keySplits = plan.KeySplits, blockM = plan.Tile.BlockM;
        var shape = problem.Shape;
        bool packedHeads = launch.QueryHeads != shape.QueryHeads;
        var queryStrides = packedHeads ? PackedQueryStrides(shape) : Strides(shape.Layout, launch.QueryHeads, shape.QueryLength, shape.HeadDim);
        // Rows as the kernels index them: per (batch, head) the tensor's positions (packed heads: the heads' rows).
        int queryLength = packedHeads ? launch.QueryLength : shape.QueryLength;
        long splitRows = (long)shape.Batch * launch.QueryHeads * queryLength * keySplits;
        bool throughWorkspace = keySplits > 1 || !queryStrides.EvenRows;
        var splitWorkspace = throughWorkspace ? workspace.Floats(splitRows * (shape.HeadDim + 1)) : default;
        var parameters = new AttentionParams<T>
        {
            Query = query,
            Key = key,
            Value = value,
            Output = output,
            LogSumExp = logSumExp,
            QueryStrides = queryStrides,
            KeyStrides = Strides(shape.Layout, shape.KeyValueHeads, shape.KeyLength, shape.HeadDim),
            QueryHeads = launch.QueryHeads,
            HeadsPerKeyValue = launch.QueryHeads / launch.KeyValueHeads,
            QueryLength = queryLength,
            KeyLength = shape.KeyLength,
            HeadDim = shape.HeadDim,
            BatchHeads = launch.Batch * launch.QueryHeads,
            ScaleLog2 = problem.Scale * MathF.Log2(MathF.E),
            // Packed heads: the band of the tensor's positions, which the kernels read from each row (TensorStrides.Position).
            DiagonalLow = problem.DiagonalLow,
            DiagonalHigh = problem.DiagonalHigh,
            QueryBlocks = (launch.QueryLength + blockM - 1) / blockM,
            Geometry = geometry,
            KeyLengths = sequences.KeyLengths,
            QueryOffsets = sequences.QueryOffsets,
            KeyOffsets = sequences.KeyOffsets,
            KeySplits = keySplits,
            BlocksTogether = plan.Order == GridOrder.BlocksTogether ? 1 : 0,
            SplitOutput = throughWorkspace ? splitWorkspace.SubView(0, splitRows * shape.HeadDim) : default,
            SplitLogSumExp = throughWorkspace ? splitWorkspace.SubView(splitRows * shape.HeadDim, splitRows) : default,
            Modifiers = ModifierParams(problem, plan.Tile),
        };
        SetTileList(ref parameters, problem, plan.Tile);
        return parameters;
    }

    /// <summary>
    /// A tensor-core kernel (<see cref="TensorCorePlan"/>: <c>mma.sync</c>; <see cref="WarpGroupPlan"/>: warpgroup
    /// products) specialised for an element type, a plan (scores and output as column-block trees, geometry as
    /// constants) and whether scores are modified (softcap, ALiBi, bias).
    /// </summary>
    public static MethodInfo TensorCoreEntryPoint(ElementType type, ForwardPlan plan, bool modified = false) =>
        TensorCoreEntryPoints.GetOrAdd((type, plan, modified), static key => BuildTensorCoreEntryPoint(key.Type, key.Plan, key.Modified));

    private static MethodInfo BuildTensorCoreEntryPoint(ElementType type, ForwardPlan plan, bool modified)
    {
        var element = type == ElementType.BFloat16 ? typeof(BFloat16Element) : typeof(Float16Element);
        if (plan is WarpGroupPlan warpGroup)
            return typeof(WarpGroupForwardKernel<,,,,>)
                .MakeGenericType(element, WarpGroupBlocksType(warpGroup.BlockN / 64), WarpGroupBlocksType(warpGroup.HeadDim / 64),
                    typeof(WarpGroupShape<,,,>).MakeGenericType(ConstantType(warpGroup.WarpGroups), ConstantType(warpGroup.BlockN),
                        ConstantType(warpGroup.HeadDim), ConstantType(warpGroup.Stages)),
                    ModifierType(modified))
                .GetMethod("Run")!;
        var tile = (TensorCorePlan)plan;
        var rowTiles = ConstantType(tile.RowTiles);
        var shape = typeof(TensorCoreShape<,,,,>).MakeGenericType(
            ConstantType(tile.Warps), rowTiles, ConstantType(tile.BlockN), ConstantType(tile.HeadDim), ConstantType(tile.Stages));
        return typeof(TensorCoreForwardKernel<,,,,>)
            .MakeGenericType(element, ColumnBlocksType(tile.BlockN / 16, rowTiles), ColumnBlocksType(tile.HeadDim / 16, rowTiles), shape,
                ModifierType(modified))
            .GetMethod("Run")!;
    }

    /// <summary>The <see cref="IWarpGroupBlocks"/> type of <paramref name="count"/> 64-column leaves: a balanced tree of pairs.</summary>
    internal static Type WarpGroupBlocksType(int count) => count == 1
        ? typeof(WarpGroupBlock)
        : typeof(WarpGroupBlocks<,>).MakeGenericType(WarpGroupBlocksType(count / 2), WarpGroupBlocksType(count - count / 2));

    /// <summary>The <see cref="IColumnBlocks"/> type of <paramref name="count"/> blocks: a balanced tree of pairs.</summary>
    internal static Type ColumnBlocksType(int count, Type rowTiles) => count == 1
        ? typeof(ColumnBlock<>).MakeGenericType(rowTiles)
        : typeof(ColumnBlocks<,>).MakeGenericType(ColumnBlocksType(count / 2, rowTiles), ColumnBlocksType(count - count / 2, rowTiles));

    /// <summary>The portable kernel for <paramref name="tile"/>, checking that its compiled form can run a group of the tile's size.</summary>
    private Action<AcceleratorStream, KernelConfig, AttentionParams<T>> LoadPortable<T>(Type codec, TilePlan tile, bool modified)
        where T : unmanaged
    {
        if (!PortableTilePlanner.Fits(tile, device))
            throw new ArgumentException($"Tile plan {tile.Describe()} does not fit device '{device.Name}'.", "plan");
        var (launch, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, AttentionParams<T>>>(
            EntryPoint(typeof(T), codec, tile, StaticSharedMemory, modified));
        if (tile.Threads > maxThreads)
            throw new ArgumentException(
                $"Tile plan {tile.Describe()} needs {tile.Threads} threads a group; the compiled kernel allows {maxThreads}.", "plan");
        return launch;
    }

    /// <summary>
    /// The kernel specialised for a storage type, its codec and the plan's output chunk count, with its tiles either in
    /// dynamic shared memory and the geometry as constants (CUDA, CPU), or, for OpenCL, in a static block of the plan's
    /// size (<see cref="StaticSharedTiles{TFloat4s}"/> says why) with the geometry at run time (<see cref="RuntimeTileShape"/>
    /// says why), and with scores modified (softcap, ALiBi, bias) or not.
    /// </summary>
    public static MethodInfo EntryPoint(Type element, Type codec, TilePlan plan, bool staticShared, bool modified = false) =>
        PortableEntryPoints.GetOrAdd((element, codec, plan, staticShared, modified),
            static key => BuildEntryPoint(key.Element, key.Codec, key.Plan, key.StaticShared, key.Modified));

    private static MethodInfo BuildEntryPoint(Type element, Type codec, TilePlan plan, bool staticShared, bool modified)
    {
        var shared = staticShared
            ? typeof(StaticSharedTiles<>).MakeGenericType(ConstantType(plan.SharedFloat4s))
            : typeof(DynamicSharedTiles);
        var tile = staticShared
            ? typeof(RuntimeTileShape)
            : typeof(TileShape<,,>).MakeGenericType(ConstantType(plan.BlockM), ConstantType(plan.ThreadsX), ConstantType(plan.HeadDim));
        return typeof(FlashForwardKernel<,,,,,>)
            .MakeGenericType(element, codec, OutputSliceType(plan.OutputChunks), shared, tile, ModifierType(modified))
            .GetMethod(nameof(FlashForwardKernel<float, Float32Codec, OutputChunk, DynamicSharedTiles, TileShape<Zero, Zero, Zero>, NoScoreModifier>.Run))!;
    }

    internal static Type ModifierType(bool modified) => modified ? typeof(ScoreModifiers) : typeof(NoScoreModifier);

    /// <summary>The <see cref="IConstant"/> type whose value is <paramref name="value"/>, in binary.</summary>
    public static Type ConstantType(int value) => value == 0
        ? typeof(Zero)
        : (value % 2 == 0 ? typeof(Twice<>) : typeof(TwicePlusOne<>)).MakeGenericType(ConstantType(value / 2));

    /// <summary>
    /// The storage type and codec kernels use for an element type on a backend: the one place a runtime element
    /// type becomes a kernel specialisation. fp16 converts in hardware on CUDA and portably elsewhere.
    /// </summary>
    public static (Type Element, Type Codec) StorageOf(ElementType type, AcceleratorType backend) => type switch
    {
        ElementType.Float32 => (typeof(float), typeof(Float32Codec)),
        ElementType.Float16 when backend == AcceleratorType.Cuda => (typeof(ushort), typeof(Float16NativeCodec)),
        ElementType.Float16 => (typeof(ushort), typeof(Float16Codec)),
        _ => (typeof(ushort), typeof(BFloat16Codec)),
    };

    /// <summary>Element strides of a tensor with <paramref name="heads"/> heads of <paramref name="length"/> positions.</summary>
    public static TensorStrides Strides(AttentionLayout layout, int heads, int length, int headDim) => layout switch
    {
        AttentionLayout.Bshd => new TensorStrides { Batch = length * heads * headDim, Head = headDim, Row = heads * headDim },
        _ => new TensorStrides { Batch = heads * length * headDim, Head = length * headDim, Row = headDim },
    };

    /// <summary>The <see cref="IOutputSlice"/> type of <paramref name="chunks"/> chunks: a balanced tree of pairs.</summary>
    public static Type OutputSliceType(int chunks) => chunks == 1
        ? typeof(OutputChunk)
        : typeof(OutputChunks<,>).MakeGenericType(OutputSliceType(chunks / 2), OutputSliceType(chunks - chunks / 2));
}
