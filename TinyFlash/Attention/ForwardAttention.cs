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
/// fp16/bf16) or the portable one, with the planner's tile (or one forced by a caller that measures tiles) and the
/// kernel specialised on it.
/// </summary>
internal sealed class ForwardAttention(Accelerator accelerator, KernelCache kernels, DeviceFacts device)
{
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

    /// <summary>The tile the planner chooses for <paramref name="shape"/> in <paramref name="type"/> on this device.</summary>
    public ForwardPlan Plan(AttentionShape shape, ElementType type) =>
        UsesTensorCores(shape, type)
            ? TensorCorePlanner.Candidates(shape, device)[0]
            : TilePlanner.PlanForward(shape, device);

    /// <summary>
    /// Launches the forward pass on the accelerator's default stream (asynchronously on GPUs): the tensor-core kernel
    /// for fp16/bf16 where <see cref="TensorCores"/> allows it and every tensor is 16-byte aligned, else the portable one.
    /// </summary>
    /// <typeparam name="T">Storage: <see cref="float"/> for fp32, <see cref="ushort"/> bits for fp16 and bf16.</typeparam>
    /// <exception cref="ArgumentException">A forced plan that does not fit the shape, the device or the tensors.</exception>
    public void Run<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ArrayView<T> output,
        ArrayView<float> logSumExp, ElementType type, AttentionProblem problem, ForwardPlan? plan = null)
        where T : unmanaged
    {
        bool aligned = Aligned(query) && Aligned(key) && Aligned(value) && Aligned(output);
        if (plan is TensorCorePlan forced)
        {
            if (type == ElementType.Float32 || !aligned || !TensorCorePlanner.Fits(forced, device))
                throw new ArgumentException(
                    $"Tile plan {forced.Describe()} needs fp16/bf16 tensors at 16-byte aligned addresses on a device with warp size 32.", nameof(plan));
            RunTensorCore(query.Cast<ushort>(), key.Cast<ushort>(), value.Cast<ushort>(), output.Cast<ushort>(), logSumExp, type, problem, forced);
        }
        else if (plan is null && aligned && UsesTensorCores(problem.Shape, type))
            RunTensorCore(query.Cast<ushort>(), key.Cast<ushort>(), value.Cast<ushort>(), output.Cast<ushort>(), logSumExp, type, problem, null);
        else
            RunPortable(query, key, value, output, logSumExp, type, problem, (TilePlan?)plan);
    }

    private bool UsesTensorCores(AttentionShape shape, ElementType type) =>
        TensorCores && type != ElementType.Float32 && TensorCorePlanner.Candidates(shape, device).Count > 0;

    private static bool Aligned<T>(ArrayView<T> view) where T : unmanaged =>
        view.LoadEffectiveAddressAsPtr() % 16 == 0;

    private void RunPortable<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ArrayView<T> output,
        ArrayView<float> logSumExp, ElementType type, AttentionProblem problem, TilePlan? plan)
        where T : unmanaged
    {
        var (launch, tile) = Select<T>(problem.Shape, StorageOf(type, accelerator.AcceleratorType).Codec, plan);
        var parameters = Parameters(query, key, value, output, logSumExp, problem, tile.BlockM, tile.Geometry);
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D(parameters.QueryBlocks * problem.Shape.Batch * problem.Shape.QueryHeads), new Index1D(tile.Threads),
                StaticSharedMemory ? SharedMemoryConfig.Empty : SharedMemoryConfig.RequestDynamic<float>(4 * tile.SharedFloat4s)),
            parameters);
    }

    private void RunTensorCore(ArrayView<ushort> query, ArrayView<ushort> key, ArrayView<ushort> value, ArrayView<ushort> output,
        ArrayView<float> logSumExp, ElementType type, AttentionProblem problem, TensorCorePlan? forced)
    {
        var (launch, tile) = SelectTensorCore(problem.Shape, type, forced);
        var parameters = new TensorCoreParams
        {
            Attention = Parameters(query, key, value, output, logSumExp, problem, tile.BlockM, default),
            QueryAddress = (ulong)query.LoadEffectiveAddressAsPtr(),
            KeyAddress = (ulong)key.LoadEffectiveAddressAsPtr(),
            ValueAddress = (ulong)value.LoadEffectiveAddressAsPtr(),
        };
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D(parameters.Attention.QueryBlocks * problem.Shape.Batch * problem.Shape.QueryHeads),
                new Index1D(tile.Threads), SharedMemoryConfig.RequestDynamic<ushort>(tile.Geometry.SharedBytes / 2)),
            parameters);
    }

    /// <summary>The launch argument both kernel families share.</summary>
    private static AttentionParams<T> Parameters<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value,
        ArrayView<T> output, ArrayView<float> logSumExp, AttentionProblem problem, int blockM, TileGeometry geometry)
        where T : unmanaged
    {
        var shape = problem.Shape;
        return new AttentionParams<T>
        {
            Query = query,
            Key = key,
            Value = value,
            Output = output,
            LogSumExp = logSumExp,
            QueryStrides = Strides(shape.Layout, shape.QueryHeads, shape.QueryLength, shape.HeadDim),
            KeyStrides = Strides(shape.Layout, shape.KeyValueHeads, shape.KeyLength, shape.HeadDim),
            QueryHeads = shape.QueryHeads,
            HeadsPerKeyValue = shape.QueryHeads / shape.KeyValueHeads,
            QueryLength = shape.QueryLength,
            KeyLength = shape.KeyLength,
            ScaleLog2 = problem.Scale * MathF.Log2(MathF.E),
            DiagonalLow = problem.DiagonalLow,
            DiagonalHigh = problem.DiagonalHigh,
            QueryBlocks = (shape.QueryLength + blockM - 1) / blockM,
            Geometry = geometry,
        };
    }

    /// <summary>The forced plan, or the planner's best candidate whose compiled kernel can run a group of its size.</summary>
    private (Action<AcceleratorStream, KernelConfig, TensorCoreParams> Launch, TensorCorePlan Plan) SelectTensorCore(
        AttentionShape shape, ElementType type, TensorCorePlan? forced)
    {
        foreach (var plan in forced is null ? TensorCorePlanner.Candidates(shape, device) : [forced])
        {
            if (plan.HeadDim != shape.HeadDim)
                throw new ArgumentException($"Tile plan {plan.Describe()} is for head dim {plan.HeadDim}, not {shape.HeadDim}.", "plan");
            var (launch, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, TensorCoreParams>>(
                TensorCoreEntryPoint(type, plan));
            if (plan.Threads <= maxThreads)
                return (launch, plan);
            if (forced is not null)
                throw new ArgumentException(
                    $"Tile plan {plan.Describe()} needs {plan.Threads} threads a group; the compiled kernel allows {maxThreads}.", "plan");
        }
        throw new NotSupportedException($"No tensor-core tile for head dim {shape.HeadDim} can be launched on '{device.Name}'.");
    }

    /// <summary>The tensor-core kernel specialised for an element type and a plan: scores and output as column-block trees, geometry as constants.</summary>
    public static MethodInfo TensorCoreEntryPoint(ElementType type, TensorCorePlan plan)
    {
        var rowTiles = ConstantType(plan.RowTiles);
        var shape = typeof(TensorCoreShape<,,,>).MakeGenericType(
            ConstantType(plan.Warps), rowTiles, ConstantType(plan.BlockN), ConstantType(plan.HeadDim));
        var element = type == ElementType.BFloat16 ? typeof(BFloat16Element) : typeof(Float16Element);
        return typeof(TensorCoreForwardKernel<,,,>)
            .MakeGenericType(element, ColumnBlocksType(plan.BlockN / 16, rowTiles), ColumnBlocksType(plan.HeadDim / 16, rowTiles), shape)
            .GetMethod("Run")!;
    }

    /// <summary>The <see cref="IColumnBlocks"/> type of <paramref name="count"/> blocks: a balanced tree of pairs.</summary>
    private static Type ColumnBlocksType(int count, Type rowTiles) => count == 1
        ? typeof(ColumnBlock<>).MakeGenericType(rowTiles)
        : typeof(ColumnBlocks<,>).MakeGenericType(ColumnBlocksType(count / 2, rowTiles), ColumnBlocksType(count - count / 2, rowTiles));

    /// <summary>
    /// The forced plan, or the planner's best portable candidate whose compiled kernel can run a group of its size
    /// (the register estimate is checked against what the compiler really used).
    /// </summary>
    private (Action<AcceleratorStream, KernelConfig, AttentionParams<T>> Launch, TilePlan Plan) Select<T>(
        AttentionShape shape, Type codec, TilePlan? forced)
        where T : unmanaged
    {
        foreach (var plan in forced is null ? TilePlanner.Candidates(shape, device) : [forced])
        {
            if (plan.HeadDim != shape.HeadDim || !TilePlanner.Fits(plan, device))
                throw new ArgumentException($"Tile plan {plan} does not fit head dim {shape.HeadDim} on '{device.Name}'.", nameof(forced));
            var (launch, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, AttentionParams<T>>>(
                EntryPoint(typeof(T), codec, plan, StaticSharedMemory));
            if (plan.Threads <= maxThreads)
                return (launch, plan);
            if (forced is not null)
                throw new ArgumentException(
                    $"Tile plan {plan} needs {plan.Threads} threads a group; the compiled kernel allows {maxThreads}.", nameof(forced));
        }
        throw new NotSupportedException($"No attention tile for head dim {shape.HeadDim} can be launched on '{device.Name}'.");
    }

    /// <summary>
    /// The kernel specialised for a storage type, its codec and the plan's output chunk count, with its tiles either in
    /// dynamic shared memory and the geometry as constants (CUDA, CPU), or, for OpenCL, in a static block of the plan's
    /// size (<see cref="StaticSharedTiles{TFloat4s}"/> says why) with the geometry at run time (<see cref="RuntimeTileShape"/>
    /// says why).
    /// </summary>
    public static MethodInfo EntryPoint(Type element, Type codec, TilePlan plan, bool staticShared)
    {
        var shared = staticShared
            ? typeof(StaticSharedTiles<>).MakeGenericType(ConstantType(plan.SharedFloat4s))
            : typeof(DynamicSharedTiles);
        var tile = staticShared
            ? typeof(RuntimeTileShape)
            : typeof(TileShape<,,>).MakeGenericType(ConstantType(plan.BlockM), ConstantType(plan.ThreadsX), ConstantType(plan.HeadDim));
        return typeof(FlashForwardKernel<,,,,>)
            .MakeGenericType(element, codec, OutputSliceType(plan.OutputChunks), shared, tile)
            .GetMethod(nameof(FlashForwardKernel<float, Float32Codec, OutputChunk, DynamicSharedTiles, TileShape<Zero, Zero, Zero>>.Run))!;
    }

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
