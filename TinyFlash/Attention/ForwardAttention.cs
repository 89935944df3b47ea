using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Engine;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;
using TinyFlash.Tiling;

namespace TinyFlash.Attention;

/// <summary>
/// The forward operator: from a validated problem and device views to a launch of the portable kernel, with the
/// planner's tile (or one forced by a caller that measures tiles) and the kernel specialised on its chunk count.
/// </summary>
internal sealed class ForwardAttention(Accelerator accelerator, KernelCache kernels, DeviceFacts device)
{
    /// <summary>The tile the planner chooses for <paramref name="shape"/> on this device.</summary>
    public TilePlan Plan(AttentionShape shape) => TilePlanner.PlanForward(shape.HeadDim, device);

    /// <summary>Launches the forward pass on the accelerator's default stream (asynchronously on GPUs).</summary>
    public void Run<T, TCodec>(ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, ArrayView<T> output,
        ArrayView<float> logSumExp, AttentionProblem problem, TilePlan? plan = null)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        var shape = problem.Shape;
        plan ??= Plan(shape);
        if (plan.HeadDim != shape.HeadDim || !TilePlanner.Fits(plan, device))
            throw new ArgumentException($"Tile plan {plan} does not fit head dim {shape.HeadDim} on '{device.Name}'.", nameof(plan));

        int queryBlocks = (shape.QueryLength + plan.BlockM - 1) / plan.BlockM;
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
            HeadDim = shape.HeadDim,
            ScaleLog2 = problem.Scale * MathF.Log2(MathF.E),
            DiagonalLow = problem.DiagonalLow,
            DiagonalHigh = problem.DiagonalHigh,
            Tiling = plan.Layout(queryBlocks),
        };

        var entryPoint = typeof(FlashForwardKernel<,,>)
            .MakeGenericType(typeof(T), typeof(TCodec), OutputSliceType(plan.OutputChunks))
            .GetMethod(nameof(FlashForwardKernel<float, Float32Codec, OutputChunk>.Run))!;
        var launch = kernels.Launcher<Action<AcceleratorStream, KernelConfig, AttentionParams<T>>>(entryPoint);
        int groups = queryBlocks * shape.Batch * shape.QueryHeads;
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D(groups), new Index1D(plan.Threads),
                SharedMemoryConfig.RequestDynamic<Float4>(plan.SharedFloat4s)),
            parameters);
    }

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
