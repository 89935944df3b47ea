using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Engine;
using TinyFlash.Kernels.Backward;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Shared;
using TinyFlash.Kernels.TensorCore;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;
using TinyFlash.Tiling;

namespace TinyFlash.Attention;

/// <summary>
/// The backward operator: from a validated problem and device views to the launches of FlashAttention-2's backward
/// on the portable kernels, every backend and storage type: D = rowsum(dO∘O) (and a zeroed fp32 dQ accumulator),
/// then dK and dV by key block with dQ added atomically, then dQ stored (or, deterministic, dQ by its own pass over
/// each query block's key tiles). The tile comes from <see cref="BackwardTilePlanner"/>; D and the accumulator live in
/// the engine's workspace, and where the accumulator would exceed its bound dQ takes the deterministic pass.
/// On CUDA (sm_80+), fp16/bf16 calls with 16-byte aligned tensors, head dim up to 128 and no softcap run on tensor cores:
/// the key-block pass (<see cref="TensorCoreBackwardKernel{TElement, TScores, TGradients, TShape, TModifier}"/>) and the dq
/// pass (<see cref="TensorCoreQueryGradientKernel{TElement, TScores, TGradients, TShape, TModifier}"/>), at head dims 64 and
/// 128 on devices with warpgroup products both on those (<see cref="WarpGroupBackwardKernel{TElement, TGradients, THeadDim, TModifier}"/>,
/// <see cref="WarpGroupQueryGradientKernel{TElement, TGradients, THeadDim, TModifier}"/>).
/// </summary>
internal sealed class BackwardAttention(Accelerator accelerator, KernelCache kernels, DeviceFacts device, WorkspacePool workspace,
    ForwardAttention forward)
{
    private static readonly ConcurrentDictionary<(Type Kernel, Type Element, Type Codec, TilePlan Plan, bool StaticShared, bool Modified), MethodInfo> TileEntryPoints = new();
    private static readonly ConcurrentDictionary<(Type Element, Type Codec, string Name), MethodInfo> RowEntryPoints = new();
    private static readonly ConcurrentDictionary<(Type Kernel, ElementType Type, int HeadDim, bool Modified, int Stages), MethodInfo> TensorCoreEntryPoints = new();

    /// <summary>Warps of the tensor-core key-block kernel: 64 keys a group, and query tiles of 64 rows.</summary>
    public const int TensorCoreWarps = 4;

    /// <summary>
    /// Whether the tensor-core passes may run on warpgroup products where the forward's may
    /// (<see cref="ForwardAttention.WarpGroups"/>) and the head dim is 64 or 128; the bench turns it off to time the
    /// <c>mma.sync</c> passes beside them.
    /// </summary>
    internal bool WarpGroupPasses { get; set; } = true;

    /// <summary>Whether a tensor-core call of head dim <paramref name="headDim"/> runs both passes on warpgroup products.</summary>
    public bool UsesWarpGroups(int headDim) =>
        WarpGroupPasses && forward.WarpGroups && headDim is 64 or 128
        && WarpGroupBackwardTiles.SharedBytes(headDim) <= device.MaxSharedMemoryPerGroup;

    /// <summary>The tile the backward of <paramref name="problem"/> runs with on this device (the portable one; see <see cref="UsesTensorCores"/>).</summary>
    public TilePlan PlanFor(AttentionProblem problem) => BackwardTilePlanner.Plan(ForwardAttention.SequenceShape(problem), device);

    /// <summary>The configuration a call with 16-byte aligned tensors runs, for records: the tensor-core block or the portable tile, and the dq mode.</summary>
    public string Describe(AttentionProblem problem, ElementType type, bool deterministic)
    {
        bool tensorCores = UsesTensorCores(problem, type, aligned: true);
        string kernel = !tensorCores ? $"backward {PlanFor(problem).Describe()}"
            : UsesWarpGroups(problem.Shape.HeadDim) ? $"warpgroup backward {WarpGroupBackwardTiles.Block} keys"
            : $"tensor-core backward {TensorCoreWarps} warps x {16 * TensorCoreWarps} keys";
        string queryGradient = deterministic ? "deterministic dq" : DeterministicFor(problem, false, tensorCores) ? "dq pass" : "atomic dq";
        return $"{kernel}, {queryGradient}";
    }

    /// <summary>Whether the key-block pass runs on tensor cores (see the type's remarks).</summary>
    public bool UsesTensorCores(AttentionProblem problem, ElementType type, bool aligned) =>
        aligned && forward.TensorCores && type != ElementType.Float32 && problem.Shape.HeadDim <= 128
        && problem.Modifiers is not { Softcap: > 0f }
        && TensorCoreSharedBytes(problem.Shape.HeadDim, 1) <= device.MaxSharedMemoryPerGroup && device.WarpSize == 32;

    /// <summary>
    /// Stages of the tensor-core passes' streamed tiles: two (the next tile loads during this one's math) where their
    /// shared memory fits the device (at head dim 128, 103 KiB against 69 KiB with one), else one.
    /// </summary>
    private int TensorCoreStages(int headDim) =>
        MostTensorCoreStages >= 2 && TensorCoreSharedBytes(headDim, 2) <= device.MaxSharedMemoryPerGroup ? 2 : 1;

    /// <summary>At most this many stages (1 or 2; tests pin 1 to run what a device with less shared memory runs).</summary>
    internal int MostTensorCoreStages { get; set; } = 2;

    private static int TensorCoreSharedBytes(int headDim, int stages) =>
        new TensorCoreBackwardTiles(new TensorCoreGeometry(TensorCoreWarps, 1, 16 * TensorCoreWarps, headDim, stages)).SharedBytes;

    /// <summary>
    /// Whether dQ takes the separate (deterministic) pass instead of atomic adds from the key-block pass: asked for; or
    /// its fp32 accumulator would exceed the workspace bound; or on tensor cores, where the pass measured as fast as the
    /// atomics or faster (H200, 2026-12-04: the same without dropout, 0.97-1.05× at head dim 64 and 1.06-1.11× at 128
    /// with dropout 0.1 on the training grid, docs/benchmarks.md).
    /// </summary>
    public bool DeterministicFor(AttentionProblem problem, bool requested, bool tensorCores) =>
        requested || tensorCores || 4 * problem.Shape.LogSumExpElements * (problem.Shape.HeadDim + 1) > workspace.LimitBytes;

    /// <summary>Launches the backward pass on the accelerator's default stream (asynchronously on GPUs).</summary>
    public void Run<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ArrayView<T> output, ArrayView<T> gradOutput,
        ArrayView<float> logSumExp, ArrayView<T> gradQuery, ArrayView<T> gradKey, ArrayView<T> gradValue, ElementType type,
        AttentionProblem problem, bool deterministic) where T : unmanaged
    {
        var shape = problem.Shape;
        var launch = ForwardAttention.SequenceShape(problem);
        bool tensorCores = UsesTensorCores(problem, type, ForwardAttention.Aligned(query, key, value, gradOutput));
        var plan = tensorCores
            ? new TilePlan(16 * TensorCoreWarps, 4 * TensorCoreWarps, shape.HeadDim) // B = 64: the tensor-core kernel's block
            : BackwardTilePlanner.Plan(launch, device);
        deterministic = DeterministicFor(problem, deterministic, tensorCores);
        int b = plan.BlockM;
        var attention = forward.Parameters(query, key, value, output, logSumExp, problem, launch, new ExecutionPlan(plan), plan.Geometry);
        long rows = shape.LogSumExpElements;
        var scratch = workspace.Floats(rows + (deterministic ? 0 : rows * shape.HeadDim));
        var parameters = new BackwardParams<T>
        {
            Attention = attention,
            GradOutput = gradOutput,
            GradQuery = gradQuery,
            GradKey = gradKey,
            GradValue = gradValue,
            Delta = scratch.SubView(0, rows),
            GradQueryAccumulator = deterministic ? default : scratch.SubView(rows, rows * shape.HeadDim),
            KeyBlocks = (launch.KeyLength + b - 1) / b,
            Scale = problem.Scale,
        };
        var codec = ForwardAttention.StorageOf(type, accelerator.AcceleratorType).Codec;
        bool modified = ForwardAttention.Modified(problem);
        RunRows(parameters, codec, nameof(BackwardRowKernels<float, Float32Codec>.Prepare), rows, shape.HeadDim);
        int queryGroups = attention.QueryBlocks * attention.BatchHeads;
        int headDim = shape.HeadDim;
        if (deterministic && tensorCores)
            RunTensorCore(PassEntryPoint(queryGradient: true, type, headDim, modified), PassSharedBytes(headDim), query, key, value, gradOutput,
                (BackwardParams<ushort>)(object)parameters, queryGroups);
        else if (deterministic)
            RunTiles(typeof(QueryGradientKernel<,,,,,>), parameters, codec, plan, modified, queryGroups);
        if (problem.BlockMask is { } mask)
        {
            // The key-block kernel reads the mask's work lists by key block. The query-block lists (uploaded with the
            // parameters) are no longer needed: the stream runs the copy after the kernel that reads them.
            parameters.Attention.TileList = workspace.Ints(mask.KernelTilesByKey(b, b));
            parameters.Attention.TileListEntries = mask.Batch * mask.Heads * parameters.KeyBlocks + 1;
        }
        int keyGroups = parameters.KeyBlocks * launch.Batch * shape.KeyValueHeads;
        if (tensorCores)
            RunTensorCore(PassEntryPoint(queryGradient: false, type, headDim, modified), PassSharedBytes(headDim), query, key, value, gradOutput,
                (BackwardParams<ushort>)(object)parameters, keyGroups);
        else
            RunTiles(typeof(KeyValueGradientKernel<,,,,,>), parameters, codec, plan, modified, keyGroups);
        if (!deterministic)
            RunRows(parameters, codec, nameof(BackwardRowKernels<float, Float32Codec>.StoreGradQuery), rows, shape.HeadDim);
    }

    private void RunTiles<T>(Type kernel, BackwardParams<T> parameters, Type codec, TilePlan plan, bool modified, int groups) where T : unmanaged
    {
        bool staticShared = forward.StaticSharedMemory;
        var entryPoint = TileEntryPoint(kernel, typeof(T), codec, plan, staticShared, modified);
        var (launcher, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, BackwardParams<T>>>(entryPoint);
        if (plan.Threads > maxThreads)
            throw new NotSupportedException(
                $"The backward tile {plan.Describe()} needs {plan.Threads} threads a group; the compiled kernel allows {maxThreads} on '{device.Name}'.");
        if (groups == 0)
            return;
        launcher(accelerator.DefaultStream,
            new KernelConfig(new Index1D(groups), new Index1D(plan.Threads),
                staticShared ? SharedMemoryConfig.Empty : SharedMemoryConfig.RequestDynamic<float>((int)(BackwardTilePlanner.SharedBytes(plan) / 4))),
            parameters);
    }

    /// <summary>
    /// A tensor-core pass for a call (the dq pass if <paramref name="queryGradient"/>, else the key-block pass): on warpgroup
    /// products where <see cref="UsesWarpGroups"/>, else on <c>mma.sync</c>.
    /// </summary>
    private MethodInfo PassEntryPoint(bool queryGradient, ElementType type, int headDim, bool modified) => UsesWarpGroups(headDim)
        ? WarpGroupEntryPoint(queryGradient ? typeof(WarpGroupQueryGradientKernel<,,,>) : typeof(WarpGroupBackwardKernel<,,,>), type, headDim, modified)
        : TensorCoreEntryPoint(queryGradient ? typeof(TensorCoreQueryGradientKernel<,,,,>) : typeof(TensorCoreBackwardKernel<,,,,>), type, headDim, modified,
            TensorCoreStages(headDim));

    private int PassSharedBytes(int headDim) =>
        UsesWarpGroups(headDim) ? WarpGroupBackwardTiles.SharedBytes(headDim) : TensorCoreSharedBytes(headDim, TensorCoreStages(headDim));

    /// <summary>Launches a tensor-core backward pass of 128 threads a group (both passes' groups are four warps, or one warpgroup).</summary>
    private void RunTensorCore<T>(MethodInfo entryPoint, int sharedBytes, ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ArrayView<T> gradOutput,
        BackwardParams<ushort> parameters, int groups) where T : unmanaged
    {
        var (launcher, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, TensorCoreBackwardParams>>(entryPoint);
        int threads = 32 * TensorCoreWarps;
        if (threads > maxThreads)
            throw new NotSupportedException($"The tensor-core backward needs {threads} threads a group; the compiled kernel allows {maxThreads} on '{device.Name}'.");
        if (groups == 0)
            return;
        launcher(accelerator.DefaultStream,
            new KernelConfig(new Index1D(groups), new Index1D(threads), SharedMemoryConfig.RequestDynamic<ushort>(sharedBytes / 2)),
            new TensorCoreBackwardParams
            {
                Backward = parameters,
                QueryAddress = (ulong)query.LoadEffectiveAddressAsPtr(),
                KeyAddress = (ulong)key.LoadEffectiveAddressAsPtr(),
                ValueAddress = (ulong)value.LoadEffectiveAddressAsPtr(),
                GradOutputAddress = (ulong)gradOutput.LoadEffectiveAddressAsPtr(),
            });
    }

    /// <summary>
    /// A tensor-core backward kernel (<paramref name="kernel"/>: <see cref="TensorCoreBackwardKernel{TElement, TScores, TGradients, TShape, TModifier}"/>
    /// or <see cref="TensorCoreQueryGradientKernel{TElement, TScores, TGradients, TShape, TModifier}"/>, open) for fp16 or bf16,
    /// a head dim, score modifiers (ALiBi, bias, dropout) or none, and the stages of its streamed tiles (1 or 2): B/16 score
    /// blocks, HeadDim/16 gradient blocks; cached.
    /// </summary>
    public static MethodInfo TensorCoreEntryPoint(Type kernel, ElementType type, int headDim, bool modified = false, int stages = 2) =>
        TensorCoreEntryPoints.GetOrAdd((kernel, type, headDim, modified, stages), static key =>
        {
            var one = ForwardAttention.ConstantType(1);
            int block = 16 * TensorCoreWarps;
            var shape = typeof(TensorCoreShape<,,,,>).MakeGenericType(ForwardAttention.ConstantType(TensorCoreWarps), one,
                ForwardAttention.ConstantType(block), ForwardAttention.ConstantType(key.HeadDim), ForwardAttention.ConstantType(key.Stages));
            var element = key.Type == ElementType.BFloat16 ? typeof(BFloat16Element) : typeof(Float16Element);
            return key.Kernel
                .MakeGenericType(element, ScoreGradientBlocksType(block / 16), ForwardAttention.ColumnBlocksType(key.HeadDim / 16, one), shape,
                    ForwardAttention.ModifierType(key.Modified))
                .GetMethod("Run")!;
        });

    /// <summary>
    /// A warpgroup pass (<paramref name="kernel"/>: <see cref="WarpGroupBackwardKernel{TElement, TGradients, THeadDim, TModifier}"/>
    /// or <see cref="WarpGroupQueryGradientKernel{TElement, TGradients, THeadDim, TModifier}"/>, open) for fp16 or bf16, head
    /// dim 64 or 128 and score modifiers or none; cached.
    /// </summary>
    public static MethodInfo WarpGroupEntryPoint(Type kernel, ElementType type, int headDim, bool modified = false) =>
        TensorCoreEntryPoints.GetOrAdd((kernel, type, headDim, modified, 2), static key =>
            key.Kernel
                .MakeGenericType(key.Type == ElementType.BFloat16 ? typeof(BFloat16Element) : typeof(Float16Element),
                    ForwardAttention.WarpGroupBlocksType(key.HeadDim / 64), ForwardAttention.ConstantType(key.HeadDim), ForwardAttention.ModifierType(key.Modified))
                .GetMethod("Run")!);

    private static Type ScoreGradientBlocksType(int count) => count == 1
        ? typeof(ScoreGradientBlock)
        : typeof(ScoreGradientBlocks<,>).MakeGenericType(ScoreGradientBlocksType(count / 2), ScoreGradientBlocksType(count - count / 2));

    /// <summary>
    /// Compiles and loads the kernels a backward of <paramref name="problem"/> in <paramref name="type"/> would launch (with
    /// 16-byte aligned tensors), without launching them.
    /// </summary>
    public void Compile(AttentionProblem problem, ElementType type, bool deterministic)
    {
        var (storage, codec) = ForwardAttention.StorageOf(type, accelerator.AcceleratorType);
        var launcher = typeof(Action<,,>).MakeGenericType(typeof(AcceleratorStream), typeof(KernelConfig), typeof(BackwardParams<>).MakeGenericType(storage));
        bool modified = ForwardAttention.Modified(problem);
        bool tensorCores = UsesTensorCores(problem, type, aligned: true);
        deterministic = DeterministicFor(problem, deterministic, tensorCores);
        kernels.Load(RowEntryPoint(storage, codec, nameof(BackwardRowKernels<float, Float32Codec>.Prepare)), launcher);
        if (!deterministic)
            kernels.Load(RowEntryPoint(storage, codec, nameof(BackwardRowKernels<float, Float32Codec>.StoreGradQuery)), launcher);
        if (tensorCores)
        {
            // dq always takes its own pass here (DeterministicFor).
            var tensorCoreLauncher = typeof(Action<AcceleratorStream, KernelConfig, TensorCoreBackwardParams>);
            int headDim = problem.Shape.HeadDim;
            kernels.Load(PassEntryPoint(queryGradient: false, type, headDim, modified), tensorCoreLauncher);
            kernels.Load(PassEntryPoint(queryGradient: true, type, headDim, modified), tensorCoreLauncher);
            return;
        }
        var plan = PlanFor(problem);
        kernels.Load(TileEntryPoint(typeof(KeyValueGradientKernel<,,,,,>), storage, codec, plan, forward.StaticSharedMemory, modified), launcher);
        if (deterministic)
            kernels.Load(TileEntryPoint(typeof(QueryGradientKernel<,,,,,>), storage, codec, plan, forward.StaticSharedMemory, modified), launcher);
    }

    private static MethodInfo RowEntryPoint(Type element, Type codec, string name) =>
        RowEntryPoints.GetOrAdd((element, codec, name),
            static key => typeof(BackwardRowKernels<,>).MakeGenericType(key.Element, key.Codec).GetMethod(key.Name)!);

    private void RunRows<T>(BackwardParams<T> parameters, Type codec, string name, long rows, int headDim) where T : unmanaged
    {
        var (launcher, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, BackwardParams<T>>>(RowEntryPoint(typeof(T), codec, name));
        var (groups, groupSize) = name == nameof(BackwardRowKernels<float, Float32Codec>.Prepare)
            ? BackwardRowKernels<float, Float32Codec>.PrepareLaunch(rows, headDim, maxThreads)
            : BackwardRowKernels<float, Float32Codec>.StoreLaunch(rows, headDim, maxThreads);
        launcher(accelerator.DefaultStream, new KernelConfig(new Index1D((int)groups), new Index1D(groupSize)), parameters);
    }

    /// <summary>
    /// <paramref name="kernel"/> (<see cref="KeyValueGradientKernel{T, TCodec, TSlice, TShared, TTile, TModifier}"/> or
    /// <see cref="QueryGradientKernel{T, TCodec, TSlice, TShared, TTile, TModifier}"/>, open) specialised for a call; cached.
    /// </summary>
    public static MethodInfo TileEntryPoint(Type kernel, Type element, Type codec, TilePlan plan, bool staticShared, bool modified) =>
        TileEntryPoints.GetOrAdd((kernel, element, codec, plan, staticShared, modified),
            static key => BuildTileEntryPoint(key.Kernel, key.Element, key.Codec, key.Plan, key.StaticShared, key.Modified));

    /// <summary>
    /// A tile kernel specialised like the forward's portable one: storage and codec, the slice of ⌈HeadDim / B⌉
    /// chunks, tiles in dynamic shared memory with the geometry as constants (CUDA, CPU) or in a static block with the
    /// geometry at run time (OpenCL), and the score modifiers (dropout included) or none.
    /// </summary>
    private static MethodInfo BuildTileEntryPoint(Type kernel, Type element, Type codec, TilePlan plan, bool staticShared, bool modified)
    {
        var shared = staticShared
            ? typeof(StaticSharedTiles<>).MakeGenericType(ForwardAttention.ConstantType((int)(BackwardTilePlanner.SharedBytes(plan) / 16)))
            : typeof(DynamicSharedTiles);
        var tile = staticShared
            ? typeof(RuntimeTileShape)
            : typeof(TileShape<,,>).MakeGenericType(ForwardAttention.ConstantType(plan.BlockM), ForwardAttention.ConstantType(plan.ThreadsX),
                ForwardAttention.ConstantType(plan.HeadDim));
        return kernel.MakeGenericType(element, codec, ForwardAttention.OutputSliceType(plan.OutputChunks), shared, tile,
            ForwardAttention.ModifierType(modified)).GetMethod("Run")!;
    }
}
