using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Engine;
using TinyFlash.Kernels.Normalization;
using TinyFlash.Tiling;

namespace TinyFlash.Normalization;

/// <summary>
/// The fused post-processing operator: from validated views to a launch of <see cref="NormDropoutResidualKernel{T, TCodec}"/>,
/// one group a row, its size chosen from the hidden size (<see cref="GroupSize"/>).
/// </summary>
internal sealed class NormDropoutResidual(Accelerator accelerator, KernelCache kernels, DeviceFacts device)
{
    /// <summary>Launches on the default stream; <typeparamref name="T"/> is the storage (float, or ushort bits of fp16/bf16).</summary>
    public void Run<T>(ArrayView<T> x, ArrayView<T> residual, ArrayView<T> bias, ArrayView<T> gamma, ArrayView<T> beta,
        ArrayView<T> output, ArrayView<T> sum, ArrayView<float> mean, ArrayView<float> rstd, int rows, int hidden,
        NormOptions options, ElementType type) where T : unmanaged
    {
        var (_, codec) = ForwardAttention.StorageOf(type, accelerator.AcceleratorType);
        var entryPoint = typeof(NormDropoutResidualKernel<,>).MakeGenericType(typeof(T), codec)
            .GetMethod(nameof(NormDropoutResidualKernel<float, Kernels.Elements.Float32Codec>.Run))!;
        var (launch, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, NormParams<T>>>(entryPoint);
        float p = options.DropoutProbability;
        launch(accelerator.DefaultStream, new KernelConfig(new Index1D(rows), new Index1D(GroupSize(hidden, device, maxThreads))),
            new NormParams<T>
            {
                X = x, Residual = residual, Bias = bias, Gamma = gamma, Beta = beta, Output = output, Sum = sum,
                Mean = mean, Rstd = rstd, Rows = rows, Hidden = hidden, Rms = options.Kind == NormKind.RmsNorm ? 1 : 0,
                Epsilon = options.Epsilon, DropoutProbability = p, KeepScale = p > 0f ? 1f / (1f - p) : 1f,
                Seed = options.Seed, Offset = options.Offset,
            });
    }

    /// <summary>
    /// Threads a row: a power of two (the reduction halves it) near hidden/8, so that each thread takes about eight
    /// elements; at least a warp where the device allows, at most 1024 and what the compiled kernel and device allow.
    /// </summary>
    public static int GroupSize(int hidden, DeviceFacts device, int maxThreads)
    {
        int limit = Math.Min(NormDropoutResidualKernel<float, Kernels.Elements.Float32Codec>.MaxThreads, Math.Min(device.MaxGroupSize, maxThreads));
        int ceiling = 1;
        while (ceiling * 2 <= limit)
            ceiling *= 2;
        int floor = Math.Min(ceiling, Math.Max(1, device.WarpSize));
        int wanted = 1;
        while (wanted * 8 < hidden)
            wanted *= 2;
        return Math.Clamp(wanted, floor, ceiling);
    }
}
