using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Engine;
using TinyFlash.Kernels.Normalization;
using TinyFlash.Tiling;

namespace TinyFlash.Normalization;

/// <summary>
/// The fused post-processing operator: from validated views to a launch of <see cref="NormDropoutResidualKernel{T, TCodec}"/>,
/// one group a row, its size chosen from the hidden size (<see cref="GroupSize"/>), and of its backward
/// (<see cref="NormBackwardKernel{T, TCodec}"/>).
/// </summary>
internal sealed class NormDropoutResidual(Accelerator accelerator, KernelCache kernels, DeviceFacts device)
{
    /// <summary>
    /// Threads a row (a power of two) instead of <see cref="GroupSize"/>'s choice, for measuring that choice
    /// (<c>TinyFlash.Bench postprocess --threads-per-row</c>); null: the planner's.
    /// </summary>
    public int? ThreadsPerRow { get; set; }

    private int Threads(int hidden, int maxThreads, int elementsPerThread) =>
        ThreadsPerRow is int forced ? ForcedGroupSize(forced, device, maxThreads) : GroupSize(hidden, device, maxThreads, elementsPerThread);

    /// <summary>
    /// A forced group size within what the device and the compiled kernel allow, rounded down to a power of two (the
    /// reduction halves it: a kernel whose registers allow 736 threads runs 512, not 736).
    /// </summary>
    public static int ForcedGroupSize(int forced, DeviceFacts device, int maxThreads) => PowerOfTwoAtMost(Math.Min(forced, Limit(device, maxThreads)));

    private static int Limit(DeviceFacts device, int maxThreads) =>
        Math.Min(NormDropoutResidualKernel<float, Kernels.Elements.Float32Codec>.MaxThreads, Math.Min(device.MaxGroupSize, maxThreads));

    private static int PowerOfTwoAtMost(int limit)
    {
        int power = 1;
        while (power * 2 <= limit)
            power *= 2;
        return power;
    }

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
        bool stash = Stashes(hidden, NormDropoutResidualKernel<float, Kernels.Elements.Float32Codec>.StashedFeatures);
        launch(accelerator.DefaultStream, new KernelConfig(new Index1D(rows), new Index1D(Threads(hidden, maxThreads, elementsPerThread: 16)),
                SharedMemoryConfig.RequestDynamic<float>(stash ? 4 * ((hidden + 3) / 4) : 1)),
            new NormParams<T>
            {
                X = x, Residual = residual, Bias = bias, Gamma = gamma, Beta = beta, Output = output, Sum = sum,
                Mean = mean, Rstd = rstd, Rows = rows, Hidden = hidden, Rms = options.Kind == NormKind.RmsNorm ? 1 : 0,
                Epsilon = options.Epsilon, DropoutProbability = p, KeepScale = p > 0f ? 1f / (1f - p) : 1f,
                Seed = options.Seed, Offset = options.Offset, StashRow = stash ? 1 : 0,
                WholeQuads = WholeQuads(hidden, x, residual, bias, gamma, beta, output, sum) ? 1 : 0,
            });
    }

    /// <summary>
    /// Whether every quad of the tensors starts four elements apart from an address aligned to four elements, so the
    /// kernels move whole quads as vectors: the hidden size a multiple of 4 and each view's address a multiple of
    /// 4·element size (absent views count as aligned).
    /// </summary>
    private static bool WholeQuads<T>(int hidden, params ReadOnlySpan<ArrayView<T>> views) where T : unmanaged =>
        hidden % 4 == 0 && ForwardAttention.Aligned(4L * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), views);

    /// <summary>
    /// Whether a row's quads wait in shared memory between a kernel's passes: rows of up to <paramref name="limit"/>
    /// features, on backends with dynamic shared memory (not OpenCL, where ILGPU's kernels here use static blocks).
    /// </summary>
    private bool Stashes(int hidden, int limit) => hidden <= limit && accelerator.AcceleratorType != AcceleratorType.OpenCL;

    /// <summary>Bytes of per-block partial sums the backward may keep (it uses fewer row blocks rather than more).</summary>
    private const long PartialBytes = 64L << 20;

    /// <summary>
    /// The backward on the default stream: the row pass over blocks of rows, then the column pass that adds the blocks'
    /// partial per-feature gradients (deterministic: no atomics, a fixed order). Blocks: a few per multiprocessor (one
    /// on the CPU, whose groups run one after another), bounded by the partials' budget.
    /// </summary>
    public void RunBackward<T>(ArrayView<T> gradOutput, ArrayView<T> x, ArrayView<T> residual, ArrayView<T> bias, ArrayView<T> gamma,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<T> gradX, ArrayView<T> gradResidual, ArrayView<T> gradBias,
        ArrayView<T> gradGamma, ArrayView<T> gradBeta, int rows, int hidden, NormOptions options, ElementType type, WorkspacePool workspace)
        where T : unmanaged
    {
        var (_, codec) = ForwardAttention.StorageOf(type, accelerator.AcceleratorType);
        var kernel = typeof(NormBackwardKernel<,>).MakeGenericType(typeof(T), codec);
        var (rowPass, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, NormBackwardParams<T>>>(kernel.GetMethod("Rows")!);
        var (columnPass, columnThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, NormBackwardParams<T>>>(kernel.GetMethod("Columns")!);
        int wanted = device.Type == AcceleratorType.CPU ? 1 : 4 * device.Multiprocessors;
        int blocks = (int)Math.Clamp(Math.Min(wanted, PartialBytes / (12L * hidden)), 1, rows);
        int rowsPerBlock = (rows + blocks - 1) / blocks;
        blocks = (rows + rowsPerBlock - 1) / rowsPerBlock;
        float p = options.DropoutProbability;
        bool stash = Stashes(hidden, NormBackwardKernel<float, Kernels.Elements.Float32Codec>.StashedFeatures);
        var parameters = new NormBackwardParams<T>
        {
            Forward = new NormParams<T>
            {
                X = x, Residual = residual, Bias = bias, Gamma = gamma, Mean = mean, Rstd = rstd, Rows = rows, Hidden = hidden,
                Rms = options.Kind == NormKind.RmsNorm ? 1 : 0, Epsilon = options.Epsilon, DropoutProbability = p,
                KeepScale = p > 0f ? 1f / (1f - p) : 1f, Seed = options.Seed, Offset = options.Offset, StashRow = stash ? 1 : 0,
                WholeQuads = WholeQuads(hidden, gradOutput, x, residual, bias, gamma, gradX, gradResidual) ? 1 : 0,
            },
            GradOutput = gradOutput, GradX = gradX, GradResidual = gradResidual, GradBias = gradBias, GradGamma = gradGamma,
            GradBeta = gradBeta, Partials = workspace.Floats(3L * blocks * hidden), RowsPerBlock = rowsPerBlock, Blocks = blocks,
        };
        rowPass(accelerator.DefaultStream, new KernelConfig(new Index1D(blocks), new Index1D(Threads(hidden, maxThreads, elementsPerThread: 8)),
            SharedMemoryConfig.RequestDynamic<float>(stash ? 8 * ((hidden + 3) / 4) : 1)), parameters);
        int group = Math.Min(256, columnThreads);
        columnPass(accelerator.DefaultStream, new KernelConfig(new Index1D((hidden + group - 1) / group), new Index1D(group)), parameters);
    }

    /// <summary>
    /// Threads a row: a power of two (the reduction halves it) near hidden/<paramref name="elementsPerThread"/>; at least
    /// a warp where the device allows, at most 1024 and what the compiled kernel and device allow. The forward takes 16
    /// elements a thread (four quads), the backward 8: measured best on the H100 at 16384 × 4096 among 128 to 1024
    /// threads a row (forward: 256 threads 0.74 TB/s fp16 and 1.38 fp32 against 512 threads' 0.62 and 1.25; backward:
    /// 512 threads, 128 losing 16-22 %; docs/benchmarks.md).
    /// </summary>
    public static int GroupSize(int hidden, DeviceFacts device, int maxThreads, int elementsPerThread)
    {
        int ceiling = PowerOfTwoAtMost(Limit(device, maxThreads));
        int floor = Math.Min(ceiling, Math.Max(1, device.WarpSize));
        int wanted = 1;
        while (wanted * elementsPerThread < hidden)
            wanted *= 2;
        return Math.Clamp(wanted, floor, ceiling);
    }
}
