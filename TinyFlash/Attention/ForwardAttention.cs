using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Engine;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;
using TinyFlash.Kernels.Shared;
using TinyFlash.Tiling;

namespace TinyFlash.Attention;

/// <summary>
/// The forward operator: from a validated problem and device views to a launch of the portable kernel, with the
/// planner's tile (or one forced by a caller that measures tiles) and the kernel specialised on its chunk count.
/// </summary>
internal sealed class ForwardAttention(Accelerator accelerator, KernelCache kernels, DeviceFacts device)
{
    /// <summary>
    /// Whether kernels take their tiles from a static shared block (OpenCL; see <see cref="StaticSharedTiles{TFloat4s}"/>)
    /// rather than dynamic shared memory. Tests set it on a CPU engine to run OpenCL's kernels where CI can.
    /// </summary>
    public bool StaticSharedMemory { get; set; } = accelerator.AcceleratorType == AcceleratorType.OpenCL;

    /// <summary>The tile the planner chooses for <paramref name="shape"/> on this device.</summary>
    public TilePlan Plan(AttentionShape shape) => TilePlanner.PlanForward(shape, device);

    /// <summary>Launches the forward pass on the accelerator's default stream (asynchronously on GPUs).</summary>
    /// <typeparam name="T">Storage: <see cref="float"/> for fp32, <see cref="ushort"/> bits for fp16 and bf16.</typeparam>
    public void Run<T>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ArrayView<T> output,
        ArrayView<float> logSumExp, ElementType type, AttentionProblem problem, TilePlan? plan = null)
        where T : unmanaged
    {
        var shape = problem.Shape;
        var (launch, tile) = Select<T>(shape, StorageOf(type, accelerator.AcceleratorType).Codec, plan);
        int queryBlocks = (shape.QueryLength + tile.BlockM - 1) / tile.BlockM;
        var parameters = new AttentionParams<T>
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
            QueryBlocks = queryBlocks,
            Geometry = tile.Geometry,
        };

        int groups = queryBlocks * shape.Batch * shape.QueryHeads;
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D(groups), new Index1D(tile.Threads),
                StaticSharedMemory ? SharedMemoryConfig.Empty : SharedMemoryConfig.RequestDynamic<float>(4 * tile.SharedFloat4s)),
            parameters);
    }

    /// <summary>
    /// The forced plan, or the planner's best candidate whose compiled kernel can run a group of its size (the
    /// register estimate is checked against what the compiler really used).
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
