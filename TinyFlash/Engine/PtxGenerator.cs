using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using TinyFlash.Attention;
using TinyFlash.Normalization;
using TinyFlash.Tiling;

namespace TinyFlash.Engine;

/// <summary>
/// Compiles kernels to PTX for sm_90 (ISA 8.8, what ILGPU picks on an H100) without a GPU, so that the code the
/// JIT makes of a hot loop (local-memory traffic, 16-byte shared accesses, index arithmetic) can be read and
/// tested on any machine.
/// </summary>
internal sealed class PtxGenerator : IDisposable
{
    private readonly Context context = Context.Create(builder => builder
        .EnableAlgorithms()
        .Optimize(OptimizationLevel.O2)
        .Math(MathMode.Fast)
        .PTXBackend(PTXBackendMode.Enhanced));

    private readonly PTXBackend backend;

    public PtxGenerator() =>
        backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90),
            CudaArchitecture.SM_90, CudaInstructionSet.ISA_88, nvvmAPI: null);

    /// <summary>
    /// The PTX of the forward kernel for <paramref name="type"/> under <paramref name="plan"/> (either family), as the engine
    /// loads it; <paramref name="modified"/>: the variant with score modifiers and dropout.
    /// </summary>
    public string Forward(ElementType type, ForwardPlan plan, bool modified = false)
    {
        var (element, codec) = ForwardAttention.StorageOf(type, AcceleratorType.Cuda);
        var method = plan switch
        {
            TensorCorePlan or WarpGroupPlan => ForwardAttention.TensorCoreEntryPoint(type, plan, modified),
            TilePlan tile => ForwardAttention.EntryPoint(element, codec, tile, staticShared: false, modified),
            _ => throw new ArgumentOutOfRangeException(nameof(plan)),
        };
        return Compile(method);
    }

    /// <summary>
    /// The PTX of a backward tile kernel (<paramref name="kernel"/>: the open generic
    /// <see cref="Kernels.Backward.KeyValueGradientKernel{T, TCodec, TSlice, TShared, TTile, TModifier}"/> or
    /// <see cref="Kernels.Backward.QueryGradientKernel{T, TCodec, TSlice, TShared, TTile, TModifier}"/>) as the engine loads it.
    /// </summary>
    public string Backward(Type kernel, ElementType type, TilePlan plan, bool modified)
    {
        var (element, codec) = ForwardAttention.StorageOf(type, AcceleratorType.Cuda);
        return Compile(BackwardAttention.TileEntryPoint(kernel, element, codec, plan, staticShared: false, modified));
    }

    /// <summary>
    /// The PTX of a tensor-core backward kernel (the key-block pass for dK and dV, or with <paramref name="queryGradient"/>
    /// the dq pass) for fp16 or bf16 and a head dim, as the engine loads it.
    /// </summary>
    public string TensorCoreBackward(ElementType type, int headDim, bool modified = false, bool queryGradient = false) =>
        Compile(BackwardAttention.TensorCoreEntryPoint(
            queryGradient ? typeof(Kernels.TensorCore.TensorCoreQueryGradientKernel<,,,,>) : typeof(Kernels.TensorCore.TensorCoreBackwardKernel<,,,,>),
            type, headDim, modified));

    /// <summary>
    /// The PTX of a warpgroup backward pass (<see cref="Kernels.TensorCore.WarpGroupBackwardKernel{TElement, TGradients, THeadDim, TModifier}"/>,
    /// or with <paramref name="queryGradient"/> <see cref="Kernels.TensorCore.WarpGroupQueryGradientKernel{TElement, TGradients, THeadDim, TModifier}"/>)
    /// as the engine loads it.
    /// </summary>
    public string WarpGroupBackward(ElementType type, int headDim, bool modified = false, bool queryGradient = false) =>
        Compile(BackwardAttention.WarpGroupEntryPoint(
            queryGradient ? typeof(Kernels.TensorCore.WarpGroupQueryGradientKernel<,,,>) : typeof(Kernels.TensorCore.WarpGroupBackwardKernel<,,,>),
            type, headDim, modified));

    /// <summary>
    /// The PTX of a fused pre/post-processing kernel for <paramref name="type"/>: <c>norm</c> (norm + dropout + residual),
    /// <c>norm-backward</c> (its row pass) or <c>rotary</c> (rotary + QKV split); the norms specialised as the planner
    /// would for rows of <paramref name="hidden"/> features of aligned views on an H100, with the register limit the
    /// engine loads them with.
    /// </summary>
    public string Elementwise(string kernel, ElementType type, int hidden = 4096)
    {
        var (element, codec) = ForwardAttention.StorageOf(type, AcceleratorType.Cuda);
        var h100 = DeviceFacts.H100;
        string Row(bool backward, int featuresPerThread)
        {
            var exactShapes = NormDropoutResidual.ExactShapes(hidden, h100.WarpSize, h100.MaxGroupSize, powerOfTwo: false, featuresPerThread).ToList();
            bool exact = exactShapes.Count > 0;
            int quads = exact ? exactShapes[0].Quads
                : NormDropoutResidual.QuadsPerThread(hidden, NormDropoutResidual.GroupSize(hidden, h100, h100.MaxGroupSize, featuresPerThread));
            return InlinePtxOperands.LimitRegisters(Compile(NormDropoutResidual.RowEntryPoint(backward, element, codec, quads, tree: false, exact, staged: true)),
                NormDropoutResidual.RegisterLimit(backward, quads, type));
        }
        return kernel switch
        {
            "norm" => Row(false, NormDropoutResidual.ForwardFeaturesPerThread),
            "norm-backward" => Row(true, NormDropoutResidual.BackwardFeaturesPerThread),
            "rotary" => Compile(typeof(Kernels.Rotary.RotaryQkvSplitKernel<,>).MakeGenericType(element, codec).GetMethod("Run")!),
            _ => throw new ArgumentOutOfRangeException(nameof(kernel), kernel, "norm, norm-backward or rotary"),
        };
    }

    private string Compile(MethodInfo method)
    {
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(method);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        string raw = ((PTXCompiledKernel)backend.Compile(entry, default)).PTXAssembly;
        LastCompile = watch.Elapsed;
        watch.Restart();
        string ptx = InlinePtxOperands.Rewrite(raw);
        LastRewrite = watch.Elapsed;
        return ptx;
    }

    /// <summary>How long ILGPU took to compile the last kernel to PTX (C# IL to PTX text).</summary>
    public TimeSpan LastCompile { get; private set; }

    /// <summary>How long the inline-operand pass (<see cref="InlinePtxOperands"/>) took on the last kernel's PTX.</summary>
    public TimeSpan LastRewrite { get; private set; }

    public void Dispose()
    {
        backend.Dispose();
        context.Dispose();
    }
}
