using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Engine;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Normalization;
using TinyFlash.Tiling;

namespace TinyFlash.Normalization;

/// <summary>
/// The fused post-processing operator: from validated views to a launch of
/// <see cref="NormDropoutResidualKernel{T, TCodec, TQuads, TSum, TLayout}"/> (one group a row) and of its backward
/// (<see cref="NormBackwardKernel{T, TCodec, TQuads, TSum, TLayout, TStream}"/>). It plans a row's threads G and the quads K
/// each holds in registers, both compile-time or launch constants: an exact row (hidden = 4·K·G, G a whole number of
/// warps, <see cref="ExactShapes"/>) where the hidden size and the views' alignment allow, so that the kernel compiles
/// no bounds checks; else G a power of two (<see cref="GroupSize"/>) and K from it (<see cref="QuadsPerThread"/>).
/// </summary>
/// <param name="accelerator">Where the kernels run.</param>
/// <param name="kernels">The engine's compiled kernels.</param>
/// <param name="device">The accelerator's facts the plan reads.</param>
/// <param name="forward">Its <see cref="ForwardAttention.StaticSharedMemory"/> says the kernels are OpenCL's (a shared-memory tree, no shuffles).</param>
internal sealed class NormDropoutResidual(Accelerator accelerator, KernelCache kernels, DeviceFacts device, ForwardAttention forward)
{
    /// <summary>Most quads a thread holds: 32 features, 32 fp32 registers in the forward and 160 in the backward's accumulators.</summary>
    public const int MaxQuadsPerThread = 8;

    /// <summary>
    /// Features a thread the forward aims for (measured on the H200 on 2026-12-03, docs/benchmarks.md: at hidden 4096,
    /// 32 features a thread the fastest in fp16 and level with 16 in fp32).
    /// </summary>
    public const int ForwardFeaturesPerThread = 32;

    /// <summary>
    /// Features a thread the backward aims for, in every storage type: 16 (four quads). In fp32, two quads spill under
    /// the 64-register limit since every quad's inputs are fetched before any is converted (H100, 2026-12-07: 2.24 TB/s
    /// at 256 threads of four quads against 1.94 at 512 of two). In fp16, 8 features at 512 threads and 64 registers had
    /// measured faster on the H200 (2026-12-03: 1.74 against 1.48 TB/s, before the rows streamed through shared-memory
    /// stages); with the stages, 16 at 256 threads measured 5-7 % faster on two H100s (2026-12-07, session 11, runs 1
    /// and 2, docs/benchmarks.md: 2.38 against 2.23 TB/s; 2.07-2.28 against 1.95-2.04): a row's reduction, barrier and
    /// per-row work are shared by twice the features.
    /// </summary>
    public const int BackwardFeaturesPerThread = 16;

    /// <summary>
    /// Registers a thread the row kernel is held to on CUDA (0: ptxas's choice). The backward's row pass with up to 2
    /// quads a thread (17 registers of state a quad) to 64, so that two 512-thread groups fit a multiprocessor's 65536
    /// registers; ptxas chose 65-71 on its own, one group and 25 % occupancy (Nsight Compute on the H200, 2026-12-03).
    /// With 16-bit storage and up to 4 quads to 128, so that two 256-thread groups fit where ptxas's 136 let one: 2.39-2.45
    /// TB/s against 2.11-2.22 at 4096 features, three processes on the H100 (2026-12-07, session 12 run 1,
    /// docs/benchmarks.md; 96 registers: 2.13-2.17). fp32 rows of 4 quads keep ptxas's 172.
    /// </summary>
    public static int RegisterLimit(bool backward, int quads, ElementType type) => !backward ? 0
        : quads <= 2 ? 64
        : quads <= 4 && type != ElementType.Float32 ? 128
        : 0;

    private static readonly ConcurrentDictionary<(bool Backward, Type Storage, Type Codec, int Quads, bool Tree, bool Exact, bool Staged), MethodInfo> EntryPoints = new();

    /// <summary>
    /// Threads a row (a power of two) instead of <see cref="GroupSize"/>'s choice, for measuring that choice
    /// (<c>TinyFlash.Bench postprocess --threads-per-row</c>); null: the planner's.
    /// </summary>
    public int? ThreadsPerRow { get; set; }

    /// <summary>
    /// Registers a thread the backward's row pass is held to on CUDA instead of <see cref="RegisterLimit"/>'s choice (0:
    /// ptxas's own), for measuring that choice (<c>TinyFlash.Bench postprocess --backward-registers</c>); null: the planner's.
    /// </summary>
    public int? BackwardRegisters { get; set; }

    /// <summary>
    /// A forced group size within what the device and the compiled kernel allow, rounded down to a power of two (the
    /// reduction halves it: a kernel whose registers allow 736 threads runs 512, not 736).
    /// </summary>
    public static int ForcedGroupSize(int forced, DeviceFacts device, int maxThreads) => PowerOfTwoAtMost(Math.Min(forced, Limit(device, maxThreads)));

    /// <summary>
    /// Threads a row: a power of two (the reductions halve it) near hidden/<paramref name="featuresPerThread"/>; at least
    /// a warp where the device allows, at most 1024 and what the compiled kernel and device allow.
    /// </summary>
    public static int GroupSize(int hidden, DeviceFacts device, int maxThreads, int featuresPerThread)
    {
        int ceiling = PowerOfTwoAtMost(Limit(device, maxThreads));
        int floor = Math.Min(ceiling, Math.Max(1, device.WarpSize));
        int wanted = 1;
        while ((long)wanted * featuresPerThread < hidden)
            wanted *= 2;
        return Math.Clamp(wanted, floor, ceiling);
    }

    /// <summary>
    /// Quads a thread holds in registers, K: the power of two that makes a row one chunk of 4·K·G features, at most
    /// <see cref="MaxQuadsPerThread"/> (a longer row is several chunks, its earlier ones recomputed).
    /// </summary>
    public static int QuadsPerThread(int hidden, int threads)
    {
        int quads = 1;
        while (quads < MaxQuadsPerThread && 4L * quads * threads < hidden)
            quads *= 2;
        return quads;
    }

    /// <summary>
    /// The exact shapes of a row, best first: (G, K) with 4·K·G = <paramref name="hidden"/>, K a power of two up to
    /// <see cref="MaxQuadsPerThread"/>, G a whole number of warps within <paramref name="limit"/> (a power of two for
    /// the shared-memory tree, <paramref name="powerOfTwo"/>); K nearest <paramref name="featuresPerThread"/>/4 first
    /// (by ratio), the smaller K of a tie (more threads a row measured faster on the H200). The forward's 4096: (128, 8);
    /// 768: (96, 2).
    /// </summary>
    public static IEnumerable<(int Threads, int Quads)> ExactShapes(int hidden, int warpSize, int limit, bool powerOfTwo, int featuresPerThread) =>
        from quads in new[] { 1, 2, 4, 8 }
        where hidden % (4 * quads) == 0
        let threads = hidden / (4 * quads)
        where threads % warpSize == 0 && threads <= limit && (!powerOfTwo || (threads & (threads - 1)) == 0)
        orderby Math.Abs(Math.Log2(4.0 * quads / featuresPerThread)), quads
        select (threads, quads);

    private static int Limit(DeviceFacts device, int maxThreads) => Math.Min(SharedTreeRowSum.MaxThreads, Math.Min(device.MaxGroupSize, maxThreads));

    private static int PowerOfTwoAtMost(int limit)
    {
        int power = 1;
        while (power * 2 <= limit)
            power *= 2;
        return power;
    }

    /// <summary>
    /// Launches on the default stream, a group a row; <typeparamref name="T"/> is the storage (float, or ushort bits of
    /// fp16/bf16). Absent inputs (empty views) are read as rows of zeros from <paramref name="workspace"/>.
    /// </summary>
    public void Run<T>(ArrayView<T> x, ArrayView<T> residual, ArrayView<T> bias, ArrayView<T> gamma, ArrayView<T> beta,
        ArrayView<T> output, ArrayView<T> sum, ArrayView<float> mean, ArrayView<float> rstd, int rows, int hidden,
        NormOptions options, ElementType type, WorkspacePool workspace) where T : unmanaged
    {
        int residualPerRow = residual.Length > 0 ? 1 : 0;
        (residual, bias, beta) = (OrZeros(residual, hidden, workspace), OrZeros(bias, hidden, workspace), OrZeros(beta, hidden, workspace));
        bool whole = WholeQuads(hidden, x, residual, bias, gamma, beta, output, sum);
        var plan = Plan<Action<AcceleratorStream, KernelConfig, NormParams<T>>, T>(backward: false, hidden, type, whole);
        plan.Launcher(accelerator.DefaultStream, plan.Config<T>(rows), WithOptions(new NormParams<T>
        {
            X = x, Residual = residual, Bias = bias, Gamma = gamma, Beta = beta, Output = output, Sum = sum,
            Mean = mean, Rstd = rstd, Rows = rows, Hidden = hidden, ResidualPerRow = residualPerRow, WholeQuads = whole ? 1 : 0,
        }, options));
    }

    /// <summary><paramref name="view"/>, or where it is absent a row of <paramref name="hidden"/> zeros that the kernels read in its place.</summary>
    private static ArrayView<T> OrZeros<T>(ArrayView<T> view, int hidden, WorkspacePool workspace) where T : unmanaged =>
        view.Length > 0 ? view : workspace.Zeros<T>(hidden);

    /// <summary>Bytes of per-block partial sums the backward may keep (it uses fewer row blocks rather than more).</summary>
    private const long PartialBytes = 64L << 20;

    /// <summary>
    /// The backward on the default stream: the row pass over blocks of rows, then the column pass that adds the blocks'
    /// partial per-feature gradients (deterministic: no atomics, a fixed order). Blocks: as many as the device holds
    /// groups at once, bounded by the partials' budget and the rows; block b takes rows b, b + blocks, ….
    /// </summary>
    public void RunBackward<T>(ArrayView<T> gradOutput, ArrayView<T> x, ArrayView<T> residual, ArrayView<T> bias, ArrayView<T> gamma,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<T> gradX, ArrayView<T> gradResidual, ArrayView<T> gradBias,
        ArrayView<T> gradGamma, ArrayView<T> gradBeta, int rows, int hidden, NormOptions options, ElementType type, WorkspacePool workspace)
        where T : unmanaged
    {
        int residualPerRow = residual.Length > 0 ? 1 : 0;
        (residual, bias) = (OrZeros(residual, hidden, workspace), OrZeros(bias, hidden, workspace));
        bool whole = WholeQuads(hidden, gradOutput, x, residual, bias, gamma, gradX, gradResidual);
        var plan = Plan<Action<AcceleratorStream, KernelConfig, NormBackwardParams<T>>, T>(backward: true, hidden, type, whole);
        var (columnPass, columnLimit) = kernels.Load<Action<AcceleratorStream, KernelConfig, NormBackwardParams<T>>>(
            typeof(FeatureGradientKernel<,>).MakeGenericType(typeof(T), CodecOf(type)).GetMethod(nameof(FeatureGradientKernel<float, Float32Codec>.Run))!);
        int blocks = (int)Math.Clamp(Math.Min(plan.ResidentGroups, PartialBytes / (12L * hidden)), 1, rows);
        var (columns, columnThreads) = FeatureGradientKernel.Shape(Math.Min(device.MaxGroupSize, columnLimit));
        var parameters = new NormBackwardParams<T>
        {
            Forward = WithOptions(new NormParams<T>
            {
                X = x, Residual = residual, Bias = bias, Gamma = gamma, Mean = mean, Rstd = rstd, Rows = rows, Hidden = hidden,
                ResidualPerRow = residualPerRow, WholeQuads = whole ? 1 : 0, XAddress = Address(x), ResidualAddress = Address(residual),
            }, options),
            GradOutput = gradOutput, GradX = gradX, GradResidual = gradResidual, GradBias = gradBias, GradGamma = gradGamma,
            GradBeta = gradBeta, Partials = workspace.Floats(3L * blocks * hidden), GradOutputAddress = Address(gradOutput),
            MeanAddress = Address(mean), RstdAddress = Address(rstd),
            Blocks = blocks, FeaturesAGroup = columns,
        };
        plan.Launcher(accelerator.DefaultStream, plan.Config<T>(blocks), parameters);
        columnPass(accelerator.DefaultStream, new KernelConfig(new Index1D((hidden + columns - 1) / columns), new Index1D(columnThreads)), parameters);
    }

    /// <summary>
    /// A planned row kernel: G threads a row, the bytes of its shared-memory stages (0: it reads its
    /// rows straight from global memory), its launcher, and the groups of it the whole device holds at once (the
    /// backward's; 0 for the forward).
    /// </summary>
    private readonly record struct RowPlan<TLauncher>(int Threads, int StageBytes, TLauncher Launcher, int ResidentGroups)
    {
        /// <summary>The launch of <paramref name="blocks"/> groups, with the stages as dynamic shared memory.</summary>
        public KernelConfig Config<T>(int blocks) where T : unmanaged =>
            new(new Index1D(blocks), new Index1D(Threads),
                StageBytes > 0 ? SharedMemoryConfig.RequestDynamic<T>(StageBytes / System.Runtime.CompilerServices.Unsafe.SizeOf<T>()) : SharedMemoryConfig.Empty);
    }

    /// <summary>
    /// A row kernel's threads, stages, launcher and resident groups. With aligned views (<paramref name="whole"/>) the first of
    /// <see cref="ExactShapes"/> whose kernel's registers allow its G; else (or with <see cref="ThreadsPerRow"/>) G a
    /// power of two from the hidden size, then K from G, exact where 4·K·G happens to be the hidden size; a kernel whose
    /// registers allow fewer threads than G runs at half G, with K planned again. The backward's rows stream through two
    /// shared-memory stages wherever the device gives dynamic shared memory (not OpenCL,
    /// <see cref="ForwardAttention.StaticSharedMemory"/>) and a group's stages fit it; the forward's never (measured slower
    /// on the H100, 2026-12-07: 1.95 against 2.41 TB/s in fp16).
    /// </summary>
    private RowPlan<TLauncher> Plan<TLauncher, T>(bool backward, int hidden, ElementType type, bool whole)
        where TLauncher : Delegate where T : unmanaged
    {
        int limit = Limit(device, int.MaxValue);
        int featuresPerThread = backward ? BackwardFeaturesPerThread : ForwardFeaturesPerThread;
        bool tree = forward.StaticSharedMemory;
        RowPlan<TLauncher>? Load(int threads, int quads, bool exact)
        {
            int stageBytes = StagedRows<T>.Bytes(NormBackwardKernel.StreamedTensors, quads * threads, threads);
            if (!backward || tree || stageBytes + default(WarpShuffleRowSum).ScratchFloats * sizeof(float) > device.MaxSharedMemoryPerGroup)
                stageBytes = 0;
            var entryPoint = RowEntryPoint(backward, typeof(T), CodecOf(type), quads, tree, exact, staged: stageBytes > 0);
            int registers = backward && BackwardRegisters is int forcedRegisters ? forcedRegisters : RegisterLimit(backward, quads, type);
            var (launcher, maxThreads) = kernels.Load<TLauncher>(entryPoint, registers);
            if (threads > maxThreads && threads > 1)
                return null;
            // row blocks are the backward's alone: the forward takes a group a row. The CPU accelerator runs groups one
            // after another, so any count serves it: three, so that its tests cover the blocks' interleaved rows and the
            // column pass's sum over blocks as a GPU runs them
            int resident = !backward ? 0 : device.Type == AcceleratorType.CPU ? 3
                : device.Multiprocessors * (kernels.ResidentGroups(entryPoint, registers, threads, stageBytes) ?? Math.Max(1, device.MaxThreadsPerMultiprocessor / threads));
            return new RowPlan<TLauncher>(threads, stageBytes, launcher, resident);
        }
        if (whole && ThreadsPerRow is null)
            foreach (var (exactThreads, quads) in ExactShapes(hidden, Math.Max(1, device.WarpSize), limit, tree, featuresPerThread))
                if (Load(exactThreads, quads, exact: true) is { } exactPlan)
                    return exactPlan;
        while (true)
        {
            int threads = ThreadsPerRow is int forced ? ForcedGroupSize(forced, device, limit) : GroupSize(hidden, device, limit, featuresPerThread);
            int quads = QuadsPerThread(hidden, threads);
            if (Load(threads, quads, exact: whole && 4L * quads * threads == hidden) is { } plan)
                return plan;
            limit = threads / 2;
        }
    }

    /// <summary>The device address of a view the kernels copy with <c>cp.async</c> (CUDA); 0 elsewhere or for an absent view.</summary>
    private ulong Address<T>(ArrayView<T> view) where T : unmanaged =>
        accelerator.AcceleratorType == AcceleratorType.Cuda && view.Length > 0 ? (ulong)view.LoadEffectiveAddressAsPtr() : 0;

    private Type CodecOf(ElementType type) => ForwardAttention.StorageOf(type, accelerator.AcceleratorType).Codec;

    /// <summary>
    /// The entry point of the forward or the backward's row pass for a storage, <paramref name="quads"/> a thread, the
    /// group sum (<paramref name="tree"/>: a shared-memory tree, OpenCL's; else warp shuffles), the row layout
    /// (<paramref name="exact"/>: hidden = 4·K·G with aligned views, no bounds checks) and, for the backward, the rows'
    /// stream (<paramref name="staged"/>: two shared-memory stages; else straight from global memory).
    /// </summary>
    public static MethodInfo RowEntryPoint(bool backward, Type storage, Type codec, int quads, bool tree, bool exact, bool staged) =>
        EntryPoints.GetOrAdd((backward, storage, codec, quads, tree, exact, staged), key =>
        {
            var state = (key.Backward ? typeof(GradientQuad<>) : typeof(NormQuad<>)).MakeGenericType(key.Storage);
            var quadsType = typeof(OneQuad<>).MakeGenericType(state);
            for (int k = 1; k < key.Quads; k *= 2)
                quadsType = typeof(QuadPair<,>).MakeGenericType(quadsType, state);
            var sum = key.Tree ? typeof(SharedTreeRowSum) : typeof(WarpShuffleRowSum);
            var layout = key.Exact ? typeof(ExactRow) : typeof(CheckedRow);
            if (!key.Backward)
                return typeof(NormDropoutResidualKernel<,,,,>).MakeGenericType(key.Storage, key.Codec, quadsType, sum, layout)
                    .GetMethod(nameof(NormDropoutResidualKernel<float, Float32Codec, OneQuad<NormQuad<float>>, WarpShuffleRowSum, ExactRow>.Run))!;
            var stream = (key.Staged ? typeof(StagedRows<>) : typeof(DirectRows<>)).MakeGenericType(key.Storage);
            return typeof(NormBackwardKernel<,,,,,>).MakeGenericType(key.Storage, key.Codec, quadsType, sum, layout, stream)
                .GetMethod(nameof(NormBackwardKernel<float, Float32Codec, OneQuad<GradientQuad<float>>, WarpShuffleRowSum, ExactRow, DirectRows<float>>.Rows))!;
        });

    /// <summary><paramref name="p"/> with the norm, epsilon and dropout stream of <paramref name="options"/>.</summary>
    private static NormParams<T> WithOptions<T>(NormParams<T> p, NormOptions options) where T : unmanaged
    {
        float dropout = options.DropoutProbability;
        p.Rms = options.Kind == NormKind.RmsNorm ? 1 : 0;
        p.Epsilon = options.Epsilon;
        p.DropoutProbability = dropout;
        p.KeepScale = dropout > 0f ? 1f / (1f - dropout) : 1f;
        p.KeepThreshold = Numerics.Philox.KeepThreshold(dropout);
        p.Key = Numerics.PhiloxKey.Of(options.Seed);
        p.Offset = options.Offset;
        return p;
    }

    /// <summary>
    /// Whether every quad of the tensors starts four elements apart from an address aligned to four elements, so the
    /// kernels move whole quads as vectors: the hidden size a multiple of 4 and each view's address a multiple of
    /// 4·element size (absent views count as aligned).
    /// </summary>
    private static bool WholeQuads<T>(int hidden, params ReadOnlySpan<ArrayView<T>> views) where T : unmanaged =>
        hidden % 4 == 0 && ForwardAttention.Aligned(4L * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), views);
}
