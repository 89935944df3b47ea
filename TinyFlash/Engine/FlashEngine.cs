using System.Diagnostics;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using TinyFlash.Attention;
using TinyFlash.Engine;
using TinyFlash.Kernels;
using TinyFlash.Normalization;
using TinyFlash.Rotary;
using TinyFlash.Reference;
using TinyFlash.Tiling;
using Half = System.Half;

namespace TinyFlash;

/// <summary>
/// Fused attention on one ILGPU accelerator: <c>softmax(Q·Kᵀ·scale + mask)·V</c> computed tile by tile, never
/// materialising the score matrix, with fp32 softmax statistics whatever the storage type.
/// </summary>
/// <remarks>
/// An engine compiles each kernel variant once (the first call of a shape family pays the JIT; <see cref="Warmup(AttentionShape, AttentionOptions?, ElementType)"/>
/// pays it ahead of time) and keeps it. Each call's configuration (tile, key splits) comes from the tuning cache if
/// <see cref="Tune"/> recorded one for its shape bucket on this device, else from the planner; it is remembered per
/// shape. Scratch memory for key splits is pooled and reused. Calls on one engine are serialised; use one engine per
/// thread for concurrency.
/// </remarks>
/// <example>
/// <code>
/// using var engine = FlashEngine.Create();                  // CUDA, else an OpenCL GPU, else the CPU
/// var shape = new AttentionShape(Batch: 1, QueryHeads: 8, KeyValueHeads: 8, QueryLength: 256, KeyLength: 256, HeadDim: 64);
/// float[] output = engine.Attention(q, k, v, shape, new AttentionOptions { Causal = true });
/// </code>
/// </example>
public sealed class FlashEngine : IDisposable
{
    private readonly Context? ownedContext;
    private readonly bool ownsAccelerator;
    private readonly KernelCache kernels;
    private readonly WorkspacePool workspace;
    private readonly FlashEngineOptions options;
    private readonly Dictionary<PlanRequest, ExecutionPlan> plans = [];
    private readonly Lazy<TuningCache> tuningCache;
    private readonly Lock gate = new();
    private bool disposed;

    private FlashEngine(Accelerator accelerator, Context? ownedContext, FlashEngineOptions? options)
    {
        this.options = options ?? FlashEngineOptions.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(this.options.WorkspaceLimitBytes, "options.WorkspaceLimitBytes");
        Accelerator = accelerator;
        this.ownedContext = ownedContext;
        ownsAccelerator = ownedContext is not null;
        Facts = AcceleratorCatalog.Facts(accelerator);
        kernels = new KernelCache(accelerator, Facts.MaxSharedMemoryPerGroup);
        Allocator = new DeviceAllocator(accelerator);
        workspace = new WorkspacePool(accelerator, Allocator, this.options.WorkspaceLimitBytes);
        Forward = new ForwardAttention(accelerator, kernels, Facts, workspace);
        Backward = new BackwardAttention(accelerator, kernels, Facts, workspace, Forward);
        Norm = new NormDropoutResidual(accelerator, kernels, Facts, Forward);
        Rotary = new RotarySplit(accelerator, kernels, workspace);
        tuningCache = new(() => new TuningCache(this.options.TuningCachePath ?? TuningCache.DefaultPath(), Warn));
    }

    /// <summary>Creates an engine on the best device of <paramref name="backend"/>, owning its accelerator.</summary>
    /// <exception cref="BackendNotAvailableException">No device of that backend is present; the message lists those that are.</exception>
    public static FlashEngine Create(BackendKind backend = BackendKind.Auto, FlashEngineOptions? options = null)
    {
        var context = AcceleratorCatalog.CreateContext();
        try
        {
            var device = AcceleratorCatalog.Select(context, backend);
            return new FlashEngine(AcceleratorCatalog.Create(context, device), context, options);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Wraps an accelerator the caller created and keeps owning (it is not disposed with the engine). Its
    /// <see cref="Context"/> must be built with <c>EnableAlgorithms()</c>; TinyFlash's kernels are tuned for
    /// <c>Optimize(OptimizationLevel.O2)</c> and <c>Math(MathMode.Fast)</c>.
    /// </summary>
    public static FlashEngine Create(Accelerator accelerator, FlashEngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new FlashEngine(accelerator, ownedContext: null, options);
    }

    /// <summary>Every accelerator ILGPU finds on this machine, with the limits the planner uses.</summary>
    public static IReadOnlyList<DeviceInfo> ListDevices()
    {
        using var context = AcceleratorCatalog.CreateContext();
        return AcceleratorCatalog.Describe(context);
    }

    /// <summary>The backend this engine runs on.</summary>
    public BackendKind Backend => AcceleratorCatalog.KindOf(Accelerator.AcceleratorType);

    /// <summary>The device's name as ILGPU reports it.</summary>
    public string DeviceName => Accelerator.Name;

    /// <summary>The accelerator kernels run on; allocate device views for the <see cref="Attention{T}"/> overload here.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The planner's view of the device.</summary>
    internal DeviceFacts Facts { get; }

    /// <summary>The forward operator, for callers that force a tile plan (benchmarks, tests).</summary>
    internal ForwardAttention Forward { get; }

    /// <summary>The backward operator.</summary>
    internal BackwardAttention Backward { get; }

    /// <summary>The dropout settings of forward passes, by the device log-sum-exp they wrote.</summary>
    private readonly DropoutLedger dropoutLedger = new();

    /// <summary>The fused normalisation operator.</summary>
    internal NormDropoutResidual Norm { get; }

    /// <summary>The rotary-embedding and QKV-split operator.</summary>
    internal RotarySplit Rotary { get; }

    /// <summary>The engine's device allocations (host-convenience copies).</summary>
    internal DeviceAllocator Allocator { get; }

    /// <summary>Kernels compiled so far by this engine.</summary>
    internal int CompiledKernels => kernels.Count;

    /// <summary>The engine's loaded kernels (for the instruction checks, which launch kernels of their own).</summary>
    internal KernelCache Kernels => kernels;

    /// <summary>The engine's scratch memory for key splits and key lengths.</summary>
    internal WorkspacePool Workspace => workspace;

    /// <summary>The tuning cache file this engine reads and writes.</summary>
    public string TuningCachePath => tuningCache.Value.FilePath;

    /// <summary>The device's driver, as tuning-cache keys record it.</summary>
    internal string DriverVersion => Accelerator switch
    {
        CudaAccelerator cuda => $"CUDA {cuda.DriverVersion}",
        CLAccelerator cl => cl.PlatformVersion.ToString(),
        _ => $"ILGPU {typeof(Accelerator).Assembly.GetName().Version}",
    };

    /// <summary>
    /// Attention on host data in fp32: copies <paramref name="q"/>, <paramref name="k"/> and <paramref name="v"/>
    /// (laid out as <paramref name="shape"/> says) to the device, runs, and returns the output in the same layout.
    /// </summary>
    /// <exception cref="ArgumentException">A span's length differs from what the shape needs, or the shape or options are invalid.</exception>
    /// <exception cref="DeviceOutOfMemoryException">The device cannot hold the tensors.</exception>
    public float[] Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        AttentionShape shape, AttentionOptions? options = null) => AttentionOnHost(q, k, v, shape, options);

    /// <summary>Attention on host data in fp16 storage, with fp32 accumulation and softmax statistics.</summary>
    /// <inheritdoc cref="Attention(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/>
    public Half[] Attention(ReadOnlySpan<Half> q, ReadOnlySpan<Half> k, ReadOnlySpan<Half> v,
        AttentionShape shape, AttentionOptions? options = null) => AttentionOnHost(q, k, v, shape, options);

    /// <summary>Attention on host data in bf16 storage, with fp32 accumulation and softmax statistics.</summary>
    /// <inheritdoc cref="Attention(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/>
    public BFloat16[] Attention(ReadOnlySpan<BFloat16> q, ReadOnlySpan<BFloat16> k, ReadOnlySpan<BFloat16> v,
        AttentionShape shape, AttentionOptions? options = null) => AttentionOnHost(q, k, v, shape, options);

    /// <summary>
    /// Attention on device views, without copies: writes <paramref name="output"/> (the query's shape and layout)
    /// and, if given, <paramref name="logSumExp"/> (natural log, [Batch, QueryHeads, QueryLength]; −∞ for rows that
    /// see no key). Runs on the accelerator's default stream: copies and synchronisation on it see the result.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/>, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <exception cref="ArgumentException">
    /// An unsupported <typeparamref name="T"/>, a view that is invalid, too short, from another accelerator or
    /// overlapping another, or an invalid shape or options.
    /// </exception>
    public void Attention<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        AttentionShape shape, AttentionOptions? options = null, ArrayView<float> logSumExp = default)
        where T : unmanaged =>
        AttentionOnDevice(q, k, v, output, shape, options, logSumExp, plan: null);

    /// <summary>
    /// <see cref="Attention(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/>
    /// that also returns each query row's log-sum-exp (natural log, [Batch, QueryHeads, QueryLength]; −∞ for a row that
    /// sees no key): what <see cref="AttentionBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/> needs.
    /// </summary>
    public float[] Attention(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        AttentionShape shape, AttentionOptions? options, out float[] logSumExp) => AttentionOnHost(q, k, v, shape, options, out logSumExp);

    /// <summary>Attention on fp16 host data, also returning the log-sum-exp (fp32).</summary>
    /// <inheritdoc cref="Attention(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?, out float[])"/>
    public Half[] Attention(ReadOnlySpan<Half> q, ReadOnlySpan<Half> k, ReadOnlySpan<Half> v,
        AttentionShape shape, AttentionOptions? options, out float[] logSumExp) => AttentionOnHost(q, k, v, shape, options, out logSumExp);

    /// <summary>Attention on bf16 host data, also returning the log-sum-exp (fp32).</summary>
    /// <inheritdoc cref="Attention(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?, out float[])"/>
    public BFloat16[] Attention(ReadOnlySpan<BFloat16> q, ReadOnlySpan<BFloat16> k, ReadOnlySpan<BFloat16> v,
        AttentionShape shape, AttentionOptions? options, out float[] logSumExp) => AttentionOnHost(q, k, v, shape, options, out logSumExp);

    /// <summary>
    /// The attention backward pass on device views (FlashAttention-2's): from q, k, v, the forward's output and
    /// log-sum-exp and the output's gradient dO, writes dq, dk and dv, recomputing the scores and probabilities tile by
    /// tile (no Sq×Sk matrix is ever stored). <paramref name="options"/> must be the forward's: the same masks, scale,
    /// modifiers and dropout (the mask is regenerated from its seed and offset; a log-sum-exp tensor this engine's forward
    /// wrote with other dropout settings is refused). With grouped-query attention dk and dv are summed over
    /// the query heads of each key/value head. Gradients accumulate in fp32 and are stored in <typeparamref name="T"/>;
    /// keys no query sees get zero gradients. dq is summed with atomic adds unless
    /// <see cref="AttentionOptions.DeterministicBackward"/> asks for bit-identical results. Runs on the accelerator's
    /// default stream.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/>, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <exception cref="ArgumentException">
    /// An unsupported <typeparamref name="T"/>; a view that is missing, too short or from another accelerator; a gradient
    /// overlapping an input or another gradient; an invalid shape or options; dropout settings that differ from the forward's.
    /// </exception>
    /// <exception cref="NotSupportedException">No backward tile for the head dim fits the device's shared memory.</exception>
    public void AttentionBackward<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output, ArrayView<T> gradOutput,
        ArrayView<float> logSumExp, ArrayView<T> gradQuery, ArrayView<T> gradKey, ArrayView<T> gradValue,
        AttentionShape shape, AttentionOptions? options = null) where T : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var type = ElementTypeOf<T>();
            var problem = AttentionValidator.Validate(shape, options);
            var inputs = new (ArrayView<T> View, long Length, string Name)[]
            {
                (q, shape.QueryElements, nameof(q)), (k, shape.KeyValueElements, nameof(k)), (v, shape.KeyValueElements, nameof(v)),
                (output, shape.QueryElements, nameof(output)), (gradOutput, shape.QueryElements, nameof(gradOutput)),
            };
            var gradients = new (ArrayView<T> View, long Length, string Name)[]
            {
                (gradQuery, shape.QueryElements, nameof(gradQuery)), (gradKey, shape.KeyValueElements, nameof(gradKey)),
                (gradValue, shape.KeyValueElements, nameof(gradValue)),
            };
            foreach (var (view, length, name) in inputs.Concat(gradients))
                AttentionValidator.RequireView(view, length, Accelerator, name);
            AttentionValidator.RequireView(logSumExp, shape.LogSumExpElements, Accelerator, nameof(logSumExp));
            for (int g = 0; g < gradients.Length; g++)
            {
                foreach (var (view, _, name) in inputs)
                    AttentionValidator.RequireDisjoint(gradients[g].View, view, gradients[g].Name, name);
                AttentionValidator.RequireDisjoint(gradients[g].View, logSumExp, gradients[g].Name, nameof(logSumExp));
                for (int other = g + 1; other < gradients.Length; other++)
                    AttentionValidator.RequireDisjoint(gradients[g].View, gradients[other].View, gradients[g].Name, gradients[other].Name);
            }
            dropoutLedger.Check(logSumExp, problem.Dropout);
            bool deterministic = options?.DeterministicBackward ?? false;
            if (type == ElementType.Float32)
                Backward.Run(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), output.Cast<float>(), gradOutput.Cast<float>(), logSumExp,
                    gradQuery.Cast<float>(), gradKey.Cast<float>(), gradValue.Cast<float>(), type, problem, deterministic);
            else
                Backward.Run(q.Cast<ushort>(), k.Cast<ushort>(), v.Cast<ushort>(), output.Cast<ushort>(), gradOutput.Cast<ushort>(), logSumExp,
                    gradQuery.Cast<ushort>(), gradKey.Cast<ushort>(), gradValue.Cast<ushort>(), type, problem, deterministic);
        }
    }

    /// <summary>
    /// <see cref="AttentionBackward{T}"/> on fp32 host data: copies the tensors to the device, runs, and returns dq, dk
    /// and dv. <paramref name="logSumExp"/> is the forward's (<see cref="Attention(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?, out float[])"/>).
    /// </summary>
    /// <remarks>
    /// Unlike the device overload, this one cannot check the dropout settings against the forward's: a host array does not
    /// say which forward wrote it (the log-sum-exp is the same with and without dropout). Pass the forward's options.
    /// </remarks>
    /// <exception cref="ArgumentException">A span's length differs from what the shape needs, or the shape or options are invalid.</exception>
    /// <exception cref="DeviceOutOfMemoryException">The device cannot hold the tensors.</exception>
    public AttentionGradients<float> AttentionBackward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> output, ReadOnlySpan<float> gradOutput, ReadOnlySpan<float> logSumExp, AttentionShape shape,
        AttentionOptions? options = null) => BackwardOnHost(q, k, v, output, gradOutput, logSumExp, shape, options);

    /// <summary><see cref="AttentionBackward{T}"/> on fp16 host data (fp32 accumulation).</summary>
    /// <inheritdoc cref="AttentionBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/>
    public AttentionGradients<Half> AttentionBackward(ReadOnlySpan<Half> q, ReadOnlySpan<Half> k, ReadOnlySpan<Half> v,
        ReadOnlySpan<Half> output, ReadOnlySpan<Half> gradOutput, ReadOnlySpan<float> logSumExp, AttentionShape shape,
        AttentionOptions? options = null) => BackwardOnHost(q, k, v, output, gradOutput, logSumExp, shape, options);

    /// <summary><see cref="AttentionBackward{T}"/> on bf16 host data (fp32 accumulation).</summary>
    /// <inheritdoc cref="AttentionBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/>
    public AttentionGradients<BFloat16> AttentionBackward(ReadOnlySpan<BFloat16> q, ReadOnlySpan<BFloat16> k, ReadOnlySpan<BFloat16> v,
        ReadOnlySpan<BFloat16> output, ReadOnlySpan<BFloat16> gradOutput, ReadOnlySpan<float> logSumExp, AttentionShape shape,
        AttentionOptions? options = null) => BackwardOnHost(q, k, v, output, gradOutput, logSumExp, shape, options);

    /// <summary><see cref="Attention{T}"/> with a forced configuration instead of the tuned or planned one, for measurements.</summary>
    internal void AttentionWithPlan<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        AttentionShape shape, AttentionOptions? options, ArrayView<float> logSumExp, ExecutionPlan plan)
        where T : unmanaged =>
        AttentionOnDevice(q, k, v, output, shape, options, logSumExp, plan);

    /// <summary>
    /// The fused post-processing of a transformer block on device views: <c>y = Norm(dropout(x + bias) + residual)</c>
    /// per row of <paramref name="hidden"/> features, LayerNorm or RMSNorm (<see cref="NormOptions.Kind"/>), statistics
    /// in fp32, every tensor read and written once. Optionally writes the pre-norm sum (<paramref name="sum"/>, the
    /// next layer's residual) and the per-row mean and reciprocal standard deviation the backward needs.
    /// </summary>
    /// <param name="x">Rows × hidden.</param>
    /// <param name="residual">Rows × hidden, or an empty view for none.</param>
    /// <param name="bias">Hidden, added to x before dropout, or empty.</param>
    /// <param name="gamma">Hidden.</param>
    /// <param name="beta">Hidden, or empty (always empty for RMSNorm).</param>
    /// <param name="output">Rows × hidden.</param>
    /// <param name="hidden">Features a row: 1 to 65536.</param>
    /// <param name="options">Norm, epsilon and dropout; <c>null</c> for LayerNorm without dropout.</param>
    /// <param name="sum">Rows × hidden for the pre-norm sum, or empty.</param>
    /// <param name="mean">Rows, or empty.</param>
    /// <param name="rstd">Rows, or empty.</param>
    /// <exception cref="ArgumentException">A view of the wrong length or from another accelerator, an output overlapping an input, or bad options.</exception>
    public void LayerNormDropoutResidual<T>(ArrayView<T> x, ArrayView<T> residual, ArrayView<T> bias, ArrayView<T> gamma,
        ArrayView<T> beta, ArrayView<T> output, int hidden, NormOptions? options = null, ArrayView<T> sum = default,
        ArrayView<float> mean = default, ArrayView<float> rstd = default) where T : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var type = ElementTypeOf<T>();
            options ??= NormOptions.Default;
            int rows = NormValidator.Validate(x.IsValid ? x.Length : 0, residual.Length, bias.Length, gamma.Length, beta.Length, hidden, options);
            AttentionValidator.RequireView(x, x.Length, Accelerator, nameof(x));
            AttentionValidator.RequireView(gamma, hidden, Accelerator, nameof(gamma));
            AttentionValidator.RequireView(output, x.Length, Accelerator, nameof(output));
            foreach (var (view, name) in new[] { (residual, nameof(residual)), (bias, nameof(bias)), (beta, nameof(beta)), (sum, nameof(sum)) })
                if (view.Length > 0)
                    AttentionValidator.RequireView(view, name == nameof(sum) ? x.Length : view.Length, Accelerator, name);
            foreach (var (view, name) in new[] { (mean, nameof(mean)), (rstd, nameof(rstd)) })
                if (view.Length > 0)
                    AttentionValidator.RequireView(view, rows, Accelerator, name);
            foreach (var (input, name) in new[] { (x, nameof(x)), (residual, nameof(residual)), (bias, nameof(bias)), (gamma, nameof(gamma)), (beta, nameof(beta)) })
            {
                if (input.Length == 0)
                    continue;
                AttentionValidator.RequireDisjoint(output, input, nameof(output), name);
                if (sum.Length > 0)
                    AttentionValidator.RequireDisjoint(sum, input, nameof(sum), name);
            }
            if (type == ElementType.Float32)
                Norm.Run(x.Cast<float>(), residual.Cast<float>(), bias.Cast<float>(), gamma.Cast<float>(), beta.Cast<float>(),
                    output.Cast<float>(), sum.Cast<float>(), mean, rstd, rows, hidden, options, type, workspace);
            else
                Norm.Run(x.Cast<ushort>(), residual.Cast<ushort>(), bias.Cast<ushort>(), gamma.Cast<ushort>(), beta.Cast<ushort>(),
                    output.Cast<ushort>(), sum.Cast<ushort>(), mean, rstd, rows, hidden, options, type, workspace);
        }
    }

    /// <summary>
    /// <see cref="LayerNormDropoutResidual{T}"/> on host data in fp32; <paramref name="residual"/>, <paramref name="bias"/>
    /// and <paramref name="beta"/> may be empty. Returns the output, the pre-norm sum and the per-row statistics.
    /// </summary>
    public NormResult<float> LayerNormDropoutResidual(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, int hidden, NormOptions? options = null) =>
        NormOnHost(x, residual, bias, gamma, beta, hidden, options);

    /// <inheritdoc cref="LayerNormDropoutResidual(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, NormOptions?)"/>
    public NormResult<Half> LayerNormDropoutResidual(ReadOnlySpan<Half> x, ReadOnlySpan<Half> residual, ReadOnlySpan<Half> bias,
        ReadOnlySpan<Half> gamma, ReadOnlySpan<Half> beta, int hidden, NormOptions? options = null) =>
        NormOnHost(x, residual, bias, gamma, beta, hidden, options);

    /// <inheritdoc cref="LayerNormDropoutResidual(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, NormOptions?)"/>
    public NormResult<BFloat16> LayerNormDropoutResidual(ReadOnlySpan<BFloat16> x, ReadOnlySpan<BFloat16> residual, ReadOnlySpan<BFloat16> bias,
        ReadOnlySpan<BFloat16> gamma, ReadOnlySpan<BFloat16> beta, int hidden, NormOptions? options = null) =>
        NormOnHost(x, residual, bias, gamma, beta, hidden, options);

    /// <summary>
    /// The backward of <see cref="LayerNormDropoutResidual{T}"/> on device views: from the output gradient, the
    /// forward's inputs and its per-row statistics, the gradients of x, the residual, the bias, γ and β (any may be an
    /// empty view: not wanted). The pre-norm sum and the dropout mask are regenerated (same <paramref name="options"/>:
    /// seed and offset), never stored. The per-feature gradients come from a two-stage reduction without atomics:
    /// results are bit-identical from run to run.
    /// </summary>
    /// <exception cref="ArgumentException">A view of the wrong length or from another accelerator, a gradient overlapping an input, or bad options.</exception>
    public void LayerNormDropoutResidualBackward<T>(ArrayView<T> gradOutput, ArrayView<T> x, ArrayView<T> residual, ArrayView<T> bias,
        ArrayView<T> gamma, ArrayView<float> mean, ArrayView<float> rstd, int hidden, NormOptions? options, ArrayView<T> gradX,
        ArrayView<T> gradResidual = default, ArrayView<T> gradBias = default, ArrayView<T> gradGamma = default, ArrayView<T> gradBeta = default)
        where T : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var type = ElementTypeOf<T>();
            options ??= NormOptions.Default;
            int rows = NormValidator.Validate(x.IsValid ? x.Length : 0, residual.Length, bias.Length, gamma.Length, 0, hidden, options);
            AttentionValidator.RequireView(gradOutput, x.Length, Accelerator, nameof(gradOutput));
            AttentionValidator.RequireView(x, x.Length, Accelerator, nameof(x));
            AttentionValidator.RequireView(gamma, hidden, Accelerator, nameof(gamma));
            AttentionValidator.RequireView(mean, rows, Accelerator, nameof(mean));
            AttentionValidator.RequireView(rstd, rows, Accelerator, nameof(rstd));
            var inputs = new[] { (gradOutput, nameof(gradOutput)), (x, nameof(x)), (residual, nameof(residual)), (bias, nameof(bias)), (gamma, nameof(gamma)) };
            foreach (var (gradient, name, length) in new[] { (gradX, nameof(gradX), x.Length), (gradResidual, nameof(gradResidual), x.Length),
                         (gradBias, nameof(gradBias), (long)hidden), (gradGamma, nameof(gradGamma), (long)hidden), (gradBeta, nameof(gradBeta), (long)hidden) })
            {
                if (gradient.Length == 0)
                    continue;
                AttentionValidator.RequireView(gradient, length, Accelerator, name);
                foreach (var (input, inputName) in inputs)
                    if (input.Length > 0)
                        AttentionValidator.RequireDisjoint(gradient, input, name, inputName);
            }
            if (type == ElementType.Float32)
                Norm.RunBackward(gradOutput.Cast<float>(), x.Cast<float>(), residual.Cast<float>(), bias.Cast<float>(), gamma.Cast<float>(), mean, rstd,
                    gradX.Cast<float>(), gradResidual.Cast<float>(), gradBias.Cast<float>(), gradGamma.Cast<float>(), gradBeta.Cast<float>(),
                    rows, hidden, options, type, workspace);
            else
                Norm.RunBackward(gradOutput.Cast<ushort>(), x.Cast<ushort>(), residual.Cast<ushort>(), bias.Cast<ushort>(), gamma.Cast<ushort>(), mean, rstd,
                    gradX.Cast<ushort>(), gradResidual.Cast<ushort>(), gradBias.Cast<ushort>(), gradGamma.Cast<ushort>(), gradBeta.Cast<ushort>(),
                    rows, hidden, options, type, workspace);
        }
    }

    /// <summary>
    /// <see cref="LayerNormDropoutResidualBackward{T}"/> on host data in fp32: <paramref name="mean"/> and
    /// <paramref name="rstd"/> are the forward's (<see cref="NormResult{T}"/>); empty residual or bias mean the forward
    /// had none (their gradients come back empty too).
    /// </summary>
    public NormGradients<float> LayerNormDropoutResidualBackward(ReadOnlySpan<float> gradOutput, ReadOnlySpan<float> x, ReadOnlySpan<float> residual,
        ReadOnlySpan<float> bias, ReadOnlySpan<float> gamma, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, int hidden, NormOptions? options = null) =>
        NormBackwardOnHost(gradOutput, x, residual, bias, gamma, mean, rstd, hidden, options);

    /// <inheritdoc cref="LayerNormDropoutResidualBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, NormOptions?)"/>
    public NormGradients<Half> LayerNormDropoutResidualBackward(ReadOnlySpan<Half> gradOutput, ReadOnlySpan<Half> x, ReadOnlySpan<Half> residual,
        ReadOnlySpan<Half> bias, ReadOnlySpan<Half> gamma, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, int hidden, NormOptions? options = null) =>
        NormBackwardOnHost(gradOutput, x, residual, bias, gamma, mean, rstd, hidden, options);

    /// <inheritdoc cref="LayerNormDropoutResidualBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, NormOptions?)"/>
    public NormGradients<BFloat16> LayerNormDropoutResidualBackward(ReadOnlySpan<BFloat16> gradOutput, ReadOnlySpan<BFloat16> x, ReadOnlySpan<BFloat16> residual,
        ReadOnlySpan<BFloat16> bias, ReadOnlySpan<BFloat16> gamma, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, int hidden, NormOptions? options = null) =>
        NormBackwardOnHost(gradOutput, x, residual, bias, gamma, mean, rstd, hidden, options);

    /// <summary>
    /// Splits a packed QKV projection [Batch, QueryLength, (QueryHeads + 2·KeyValueHeads)·HeadDim] into the q, k and v
    /// that <see cref="Attention{T}"/> reads for <paramref name="shape"/> (its layout), applying rotary position
    /// embeddings to q and k on the way (and <see cref="RotaryOptions.QueryScale"/> to q): one kernel, one read and one
    /// write of every element.
    /// </summary>
    /// <exception cref="ArgumentException">A projection or output of the wrong length, an odd head dim, lengths that differ, or bad options.</exception>
    public void RotaryQkvSplit<T>(ArrayView<T> qkv, ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, AttentionShape shape,
        RotaryOptions? options = null) where T : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var type = ElementTypeOf<T>();
            options ??= RotaryOptions.Default;
            RotarySplit.Validate(qkv.IsValid ? qkv.Length : 0, shape, options);
            AttentionValidator.RequireView(qkv, qkv.Length, Accelerator, nameof(qkv));
            AttentionValidator.RequireView(q, shape.QueryElements, Accelerator, nameof(q));
            AttentionValidator.RequireView(k, shape.KeyValueElements, Accelerator, nameof(k));
            AttentionValidator.RequireView(v, shape.KeyValueElements, Accelerator, nameof(v));
            foreach (var (output, name) in new[] { (q, nameof(q)), (k, nameof(k)), (v, nameof(v)) })
                AttentionValidator.RequireDisjoint(output, qkv, name, nameof(qkv));
            AttentionValidator.RequireDisjoint(q, k, nameof(q), nameof(k));
            AttentionValidator.RequireDisjoint(q, v, nameof(q), nameof(v));
            AttentionValidator.RequireDisjoint(k, v, nameof(k), nameof(v));
            if (type == ElementType.Float32)
                Rotary.Run(qkv.Cast<float>(), q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), shape, options, type);
            else
                Rotary.Run(qkv.Cast<ushort>(), q.Cast<ushort>(), k.Cast<ushort>(), v.Cast<ushort>(), shape, options, type);
        }
    }

    /// <summary><see cref="RotaryQkvSplit{T}"/> on host data in fp32: returns q, k and v in the shape's layout.</summary>
    public (float[] Q, float[] K, float[] V) RotaryQkvSplit(ReadOnlySpan<float> qkv, AttentionShape shape, RotaryOptions? options = null) =>
        RotaryOnHost(qkv, shape, options);

    /// <inheritdoc cref="RotaryQkvSplit(ReadOnlySpan{float}, AttentionShape, RotaryOptions?)"/>
    public (Half[] Q, Half[] K, Half[] V) RotaryQkvSplit(ReadOnlySpan<Half> qkv, AttentionShape shape, RotaryOptions? options = null) =>
        RotaryOnHost(qkv, shape, options);

    /// <inheritdoc cref="RotaryQkvSplit(ReadOnlySpan{float}, AttentionShape, RotaryOptions?)"/>
    public (BFloat16[] Q, BFloat16[] K, BFloat16[] V) RotaryQkvSplit(ReadOnlySpan<BFloat16> qkv, AttentionShape shape, RotaryOptions? options = null) =>
        RotaryOnHost(qkv, shape, options);

    /// <summary>
    /// Times the configurations the planner deems legal for <paramref name="shape"/> on this device (tiles and key
    /// splits) on random tensors, and records the fastest in the tuning cache under the shape's bucket (device,
    /// driver, kernel version, storage type, head dim, mask kind, lengths rounded to powers of two). Later calls in
    /// that bucket, in this process and later ones, use it. Takes a few seconds per bucket on a GPU.
    /// </summary>
    /// <param name="shape">The shape to tune for; its tensors are allocated for the run (compact shapes tune faster).</param>
    /// <param name="options">Mask and scale, as for <see cref="Attention{T}"/>.</param>
    /// <param name="type">Storage type.</param>
    /// <param name="progress">Receives each candidate's time as it is measured.</param>
    /// <exception cref="ArgumentException">The shape or options are invalid (the same rules as a call).</exception>
    /// <exception cref="ObjectDisposedException">The engine is disposed.</exception>
    /// <exception cref="DeviceOutOfMemoryException">The device cannot hold the tensors.</exception>
    public TuningResult Tune(AttentionShape shape, AttentionOptions? options = null, ElementType type = ElementType.Float16,
        IProgress<TuningProgress>? progress = null)
    {
        PlanRequest request;
        lock (gate)
        {
            ThrowIfDisposed();
            RequireDefined(type);
            request = Forward.Request(AttentionValidator.Validate(shape, options), type, aligned: true);
        }
        using var workload = AttentionWorkload.Create(this, shape, options ?? AttentionOptions.Default, type);
        var result = RunTuning(request, plan => TimeMilliseconds(() => workload.Run(plan)), progress);
        lock (gate)
            plans[request] = ExecutionPlan.Parse(result.Plan, shape.HeadDim);
        return result;
    }

    /// <summary>
    /// Compiles, ahead of a first call, the kernels a call of <paramref name="shape"/> would run (ILGPU takes 0.5 s
    /// for a portable kernel and 1.5 to 6 s for a tensor-core one; docs/tiling.md has the measurements), and returns
    /// how long that took (about zero when they were compiled already).
    /// </summary>
    /// <exception cref="ArgumentException">The shape or options are invalid.</exception>
    /// <exception cref="ObjectDisposedException">The engine is disposed.</exception>
    public TimeSpan Warmup(AttentionShape shape, AttentionOptions? options = null, ElementType type = ElementType.Float16)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            RequireDefined(type);
            var request = Forward.Request(AttentionValidator.Validate(shape, options), type, aligned: true);
            var watch = Stopwatch.StartNew();
            Forward.Compile(request, ChoosePlan(request, timeCallersTensors: null));
            return watch.Elapsed;
        }
    }

    /// <summary>
    /// <see cref="Warmup(AttentionShape, AttentionOptions?, ElementType)"/> for each call of a list, for example every
    /// shape a service will see, at start-up; returns the total compile time.
    /// </summary>
    /// <example>
    /// <code>engine.Warmup([(prefillShape, causal, ElementType.Float16), (decodeShape, causal, ElementType.Float16)]);</code>
    /// </example>
    public TimeSpan Warmup(IEnumerable<(AttentionShape Shape, AttentionOptions? Options, ElementType Type)> calls)
    {
        ArgumentNullException.ThrowIfNull(calls);
        var total = TimeSpan.Zero;
        foreach (var (shape, options, type) in calls)
            total += Warmup(shape, options, type);
        return total;
    }

    /// <summary>
    /// Compiles, ahead of a first training step, the kernels <see cref="AttentionBackward{T}"/> would run for
    /// <paramref name="shape"/> and <paramref name="options"/> (the deterministic mode included), and returns how long that
    /// took. Pair it with <see cref="Warmup(AttentionShape, AttentionOptions?, ElementType)"/> for the forward.
    /// </summary>
    /// <exception cref="ArgumentException">The shape or options are invalid.</exception>
    /// <exception cref="NotSupportedException">No backward tile for the head dim fits the device.</exception>
    /// <exception cref="ObjectDisposedException">The engine is disposed.</exception>
    public TimeSpan WarmupBackward(AttentionShape shape, AttentionOptions? options = null, ElementType type = ElementType.Float16)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            RequireDefined(type);
            var problem = AttentionValidator.Validate(shape, options);
            var watch = Stopwatch.StartNew();
            Backward.Compile(problem, type, options?.DeterministicBackward ?? false);
            return watch.Elapsed;
        }
    }

    /// <summary>The planner's configuration for a call, ignoring the tuning cache (the baseline tuning is measured against).</summary>
    internal ExecutionPlan DefaultPlanFor(AttentionShape shape, AttentionOptions? options, ElementType type)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            return Planned(Forward.Request(AttentionValidator.Validate(shape, options), type, aligned: true));
        }
    }

    /// <summary>The configuration a call of <paramref name="shape"/> in <paramref name="type"/> runs with (tuned or planned).</summary>
    internal ExecutionPlan PlanFor(AttentionShape shape, AttentionOptions? options, ElementType type)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            return ChoosePlan(Forward.Request(AttentionValidator.Validate(shape, options), type, aligned: true), timeCallersTensors: null);
        }
    }

    /// <summary>Unloads the kernels, frees the workspace and, if the engine created it, releases the accelerator.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed)
                return;
            disposed = true;
            workspace.Dispose();
            kernels.Dispose();
            if (ownsAccelerator)
                Accelerator.Dispose();
            ownedContext?.Dispose();
        }
    }

    private TElement[] AttentionOnHost<TElement>(ReadOnlySpan<TElement> q, ReadOnlySpan<TElement> k,
        ReadOnlySpan<TElement> v, AttentionShape shape, AttentionOptions? options) where TElement : unmanaged =>
        AttentionOnHost(q, k, v, shape, options, wantLogSumExp: false, out _);

    private TElement[] AttentionOnHost<TElement>(ReadOnlySpan<TElement> q, ReadOnlySpan<TElement> k,
        ReadOnlySpan<TElement> v, AttentionShape shape, AttentionOptions? options, out float[] logSumExp) where TElement : unmanaged =>
        AttentionOnHost(q, k, v, shape, options, wantLogSumExp: true, out logSumExp);

    private TElement[] AttentionOnHost<TElement>(ReadOnlySpan<TElement> q, ReadOnlySpan<TElement> k,
        ReadOnlySpan<TElement> v, AttentionShape shape, AttentionOptions? options, bool wantLogSumExp, out float[] logSumExp)
        where TElement : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var problem = AttentionValidator.Validate(shape, options);
            AttentionValidator.RequireExactLength(q.Length, shape.QueryElements, nameof(q));
            AttentionValidator.RequireExactLength(k.Length, shape.KeyValueElements, nameof(k));
            AttentionValidator.RequireExactLength(v.Length, shape.KeyValueElements, nameof(v));
            using var staging = new HostStaging(Allocator);
            var output = staging.Allocate<TElement>(q.Length, "output");
            var lse = wantLogSumExp ? staging.Allocate<float>(shape.LogSumExpElements, "logSumExp") : default;
            Launch(staging.Upload(q, nameof(q)), staging.Upload(k, nameof(k)), staging.Upload(v, nameof(v)), output, lse, problem, forced: null);
            var result = HostStaging.Download(output);
            logSumExp = HostStaging.Download(lse);
            return result;
        }
    }

    private AttentionGradients<TElement> BackwardOnHost<TElement>(ReadOnlySpan<TElement> q, ReadOnlySpan<TElement> k, ReadOnlySpan<TElement> v,
        ReadOnlySpan<TElement> output, ReadOnlySpan<TElement> gradOutput, ReadOnlySpan<float> logSumExp, AttentionShape shape,
        AttentionOptions? options) where TElement : unmanaged
    {
        ThrowIfDisposed();
        _ = ElementTypeOf<TElement>();
        var problem = AttentionValidator.Validate(shape, options);
        AttentionValidator.RequireExactLength(q.Length, shape.QueryElements, nameof(q));
        AttentionValidator.RequireExactLength(k.Length, shape.KeyValueElements, nameof(k));
        AttentionValidator.RequireExactLength(v.Length, shape.KeyValueElements, nameof(v));
        AttentionValidator.RequireExactLength(output.Length, shape.QueryElements, nameof(output));
        AttentionValidator.RequireExactLength(gradOutput.Length, shape.QueryElements, nameof(gradOutput));
        AttentionValidator.RequireExactLength(logSumExp.Length, shape.LogSumExpElements, nameof(logSumExp));
        using var staging = new HostStaging(Allocator);
        var gradQuery = staging.Allocate<TElement>(q.Length, "gradQuery");
        var gradKey = staging.Allocate<TElement>(k.Length, "gradKey");
        var gradValue = staging.Allocate<TElement>(v.Length, "gradValue");
        AttentionBackward(staging.Upload(q, nameof(q)), staging.Upload(k, nameof(k)), staging.Upload(v, nameof(v)), staging.Upload(output, nameof(output)),
            staging.Upload(gradOutput, nameof(gradOutput)), staging.Upload(logSumExp, nameof(logSumExp)), gradQuery, gradKey, gradValue, shape, options);
        return new AttentionGradients<TElement>(HostStaging.Download(gradQuery), HostStaging.Download(gradKey), HostStaging.Download(gradValue));
    }

    private NormResult<TElement> NormOnHost<TElement>(ReadOnlySpan<TElement> x, ReadOnlySpan<TElement> residual, ReadOnlySpan<TElement> bias,
        ReadOnlySpan<TElement> gamma, ReadOnlySpan<TElement> beta, int hidden, NormOptions? options) where TElement : unmanaged
    {
        ThrowIfDisposed();
        options ??= NormOptions.Default;
        int rows = NormValidator.Validate(x.Length, residual.Length, bias.Length, gamma.Length, beta.Length, hidden, options);
        using var staging = new HostStaging(Allocator);
        var output = staging.Allocate<TElement>(x.Length, "output");
        var sum = staging.Allocate<TElement>(x.Length, "sum");
        var mean = staging.Allocate<float>(rows, "mean");
        var rstd = staging.Allocate<float>(rows, "rstd");
        LayerNormDropoutResidual(staging.Upload(x, nameof(x)), staging.Upload(residual, nameof(residual)), staging.Upload(bias, nameof(bias)),
            staging.Upload(gamma, nameof(gamma)), staging.Upload(beta, nameof(beta)), output, hidden, options, sum, mean, rstd);
        return new NormResult<TElement>(HostStaging.Download(output), HostStaging.Download(sum), HostStaging.Download(mean), HostStaging.Download(rstd));
    }

    private NormGradients<TElement> NormBackwardOnHost<TElement>(ReadOnlySpan<TElement> gradOutput, ReadOnlySpan<TElement> x,
        ReadOnlySpan<TElement> residual, ReadOnlySpan<TElement> bias, ReadOnlySpan<TElement> gamma, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, int hidden, NormOptions? options) where TElement : unmanaged
    {
        ThrowIfDisposed();
        options ??= NormOptions.Default;
        int rows = NormValidator.Validate(x.Length, residual.Length, bias.Length, gamma.Length, 0, hidden, options);
        AttentionValidator.RequireExactLength(gradOutput.Length, x.Length, nameof(gradOutput));
        AttentionValidator.RequireExactLength(mean.Length, rows, nameof(mean));
        AttentionValidator.RequireExactLength(rstd.Length, rows, nameof(rstd));
        using var staging = new HostStaging(Allocator);
        var gradX = staging.Allocate<TElement>(x.Length, "gradX");
        var gradResidual = staging.Allocate<TElement>(residual.Length, "gradResidual");
        var gradBias = staging.Allocate<TElement>(bias.Length, "gradBias");
        var gradGamma = staging.Allocate<TElement>(hidden, "gradGamma");
        var gradBeta = staging.Allocate<TElement>(options.Kind == NormKind.LayerNorm ? hidden : 0, "gradBeta");
        LayerNormDropoutResidualBackward(staging.Upload(gradOutput, nameof(gradOutput)), staging.Upload(x, nameof(x)),
            staging.Upload(residual, nameof(residual)), staging.Upload(bias, nameof(bias)), staging.Upload(gamma, nameof(gamma)),
            staging.Upload(mean, nameof(mean)), staging.Upload(rstd, nameof(rstd)), hidden, options,
            gradX, gradResidual, gradBias, gradGamma, gradBeta);
        return new NormGradients<TElement>(HostStaging.Download(gradX), HostStaging.Download(gradResidual), HostStaging.Download(gradBias),
            HostStaging.Download(gradGamma), HostStaging.Download(gradBeta));
    }

    private (TElement[] Q, TElement[] K, TElement[] V) RotaryOnHost<TElement>(ReadOnlySpan<TElement> qkv, AttentionShape shape,
        RotaryOptions? options) where TElement : unmanaged
    {
        ThrowIfDisposed();
        options ??= RotaryOptions.Default;
        RotarySplit.Validate(qkv.Length, shape, options);
        using var staging = new HostStaging(Allocator);
        var q = staging.Allocate<TElement>(shape.QueryElements, "q");
        var k = staging.Allocate<TElement>(shape.KeyValueElements, "k");
        var v = staging.Allocate<TElement>(shape.KeyValueElements, "v");
        RotaryQkvSplit(staging.Upload(qkv, nameof(qkv)), q, k, v, shape, options);
        return (HostStaging.Download(q), HostStaging.Download(k), HostStaging.Download(v));
    }

    private void AttentionOnDevice<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        AttentionShape shape, AttentionOptions? options, ArrayView<float> logSumExp, ExecutionPlan? plan)
        where T : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            _ = ElementTypeOf<T>(); // an unsupported T is refused before anything else
            var problem = AttentionValidator.Validate(shape, options);
            AttentionValidator.RequireView(q, shape.QueryElements, Accelerator, nameof(q));
            AttentionValidator.RequireView(k, shape.KeyValueElements, Accelerator, nameof(k));
            AttentionValidator.RequireView(v, shape.KeyValueElements, Accelerator, nameof(v));
            AttentionValidator.RequireView(output, shape.QueryElements, Accelerator, nameof(output));
            AttentionValidator.RequireDisjoint(output, q, nameof(output), nameof(q));
            AttentionValidator.RequireDisjoint(output, k, nameof(output), nameof(k));
            AttentionValidator.RequireDisjoint(output, v, nameof(output), nameof(v));
            if (logSumExp.IsValid)
            {
                AttentionValidator.RequireView(logSumExp, shape.LogSumExpElements, Accelerator, nameof(logSumExp));
                AttentionValidator.RequireDisjoint(logSumExp, output, nameof(logSumExp), nameof(output));
                AttentionValidator.RequireDisjoint(logSumExp, q, nameof(logSumExp), nameof(q));
                AttentionValidator.RequireDisjoint(logSumExp, k, nameof(logSumExp), nameof(k));
                AttentionValidator.RequireDisjoint(logSumExp, v, nameof(logSumExp), nameof(v));
            }
            Launch(q, k, v, output, logSumExp, problem, plan);
            if (logSumExp.IsValid)
                dropoutLedger.Record(logSumExp, problem.Dropout);
        }
    }

    /// <summary>
    /// Chooses the configuration (the forced one, else the remembered, tuned or planned one) and launches with the
    /// views cast to their storage type.
    /// </summary>
    private void Launch<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        ArrayView<float> logSumExp, AttentionProblem problem, ExecutionPlan? forced) where T : unmanaged
    {
        var type = ElementTypeOf<T>();
        var request = Forward.Request(problem, type, ForwardAttention.Aligned(q, k, v, output));
        void Run(ExecutionPlan plan)
        {
            if (type == ElementType.Float32)
                Forward.Run(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), output.Cast<float>(), logSumExp, type, problem, request, plan);
            else
                Forward.Run(q.Cast<ushort>(), k.Cast<ushort>(), v.Cast<ushort>(), output.Cast<ushort>(), logSumExp, type, problem, request, plan);
        }
        Run(forced ?? ChoosePlan(request, plan => TimeMilliseconds(() => Run(plan))));
    }

    /// <summary>
    /// The configuration for <paramref name="request"/>: remembered from an earlier call, else the tuning cache's entry
    /// for its bucket, else (with <see cref="FlashEngineOptions.TuneOnFirstUse"/>) tuned now on the caller's tensors
    /// through <paramref name="timeCallersTensors"/>, else the planner's.
    /// </summary>
    private ExecutionPlan ChoosePlan(PlanRequest request, Func<ExecutionPlan, double>? timeCallersTensors)
    {
        if (plans.TryGetValue(request, out var chosen))
            return chosen;
        chosen = Tuned(request);
        if (chosen is null && options.TuneOnFirstUse && timeCallersTensors is not null)
            chosen = ExecutionPlan.Parse(RunTuning(request, timeCallersTensors, progress: null).Plan, request.Shape.HeadDim);
        chosen ??= Planned(request);
        plans[request] = chosen;
        return chosen;
    }

    /// <summary>
    /// The planner's first candidate whose compiled kernel can run a group of its size (the planner's register estimate
    /// is checked against what the compiler used), compiling it on the way.
    /// </summary>
    /// <exception cref="NotSupportedException">No candidate's kernel can run on this device.</exception>
    private ExecutionPlan Planned(PlanRequest request) =>
        TilePlanner.Candidates(request, Facts, options.WorkspaceLimitBytes).FirstOrDefault(plan => Forward.Compile(request, plan))
        ?? throw new NotSupportedException(
            $"No {(request.TensorCores ? "tensor-core" : "portable")} tile for head dim {request.Shape.HeadDim} can be launched on '{DeviceName}'.");

    /// <summary>The tuning cache's configuration for the request's bucket, if there is one this call can run.</summary>
    private ExecutionPlan? Tuned(PlanRequest request)
    {
        if (!options.UseTuningCache)
            return null;
        var key = KeyOf(request);
        if (tuningCache.Value.Find(key) is not { } entry)
            return null;
        try
        {
            var plan = ExecutionPlan.Parse(entry.Plan, request.Shape.HeadDim);
            if (Forward.Allows(request, plan.Tile) && TilePlanner.WorkspaceBytes(request.Shape, plan.KeySplits) <= options.WorkspaceLimitBytes
                && Forward.Compile(request, plan))
                return plan;
            Warn($"TinyFlash: the tuned configuration '{entry.Plan}' for {key} does not fit this call; using the planner's.");
        }
        catch (FormatException e)
        {
            Warn($"TinyFlash: the tuning cache holds an unreadable configuration for {key} ({e.Message}); using the planner's.");
        }
        return null;
    }

    /// <summary>
    /// Times every candidate, records the fastest in the tuning cache and returns the result. The device is warmed up
    /// on the planner's choice first, and the candidates are timed in two rounds (each keeps the lower of its two
    /// medians) so that clock ramps and drift do not favour one. Another configuration replaces the planner's only
    /// if it is at least <see cref="RequiredGain"/> faster: within noise, the planner's stands.
    /// </summary>
    private TuningResult RunTuning(PlanRequest request, Func<ExecutionPlan, double> time, IProgress<TuningProgress>? progress)
    {
        var candidates = TilePlanner.Candidates(request, Facts, options.WorkspaceLimitBytes);
        var times = new double?[candidates.Count];
        var errors = new string?[candidates.Count];
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < candidates.Count; i++)
            {
                if (errors[i] is not null)
                    continue;
                try
                {
                    double ms = time(candidates[i]);
                    times[i] = Math.Min(times[i] ?? double.PositiveInfinity, ms);
                }
                catch (Exception e) when (e is ArgumentException or NotSupportedException or TinyFlashException)
                {
                    errors[i] = e.Message;
                }
                if (round == 1 || errors[i] is not null)
                    progress?.Report(new TuningProgress(i + 1, candidates.Count, new TuningCandidate(candidates[i].Describe(), times[i], errors[i])));
            }
        }
        var timed = candidates.Select((plan, i) => new TuningCandidate(plan.Describe(), errors[i] is null ? times[i] : null, errors[i])).ToArray();
        var fastest = timed.Where(c => c.Milliseconds is not null).MinBy(c => c.Milliseconds)
                      ?? throw new TinyFlashException($"No configuration for {request.Shape} could run: {timed[0].Error}");
        var best = timed[0].Milliseconds is double planned && fastest.Milliseconds > planned * (1 - RequiredGain) ? timed[0] : fastest;
        var key = KeyOf(request);
        var result = new TuningResult(best.Plan, best.Milliseconds!.Value, timed[0].Plan,
            timed[0].Milliseconds ?? double.NaN, timed, key.ToString());
        try
        {
            tuningCache.Value.Store(key, result);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Warn($"TinyFlash: could not write the tuning cache '{tuningCache.Value.FilePath}' ({e.Message}); the result holds for this engine only.");
        }
        return result;
    }

    /// <summary>How much faster than the planner's choice a configuration must time to replace it (3%: timing noise on a GPU is about 1–2%).</summary>
    private const double RequiredGain = 0.03;

    /// <summary>
    /// Median milliseconds of <paramref name="run"/> over 7 samples after a warm-up of about 20 ms (compiles the kernel,
    /// brings the clocks up), each sample about 3 ms of calls.
    /// </summary>
    private double TimeMilliseconds(Action run)
    {
        var warmup = Stopwatch.StartNew();
        do
        {
            run();
            Accelerator.Synchronize();
        }
        while (warmup.Elapsed.TotalMilliseconds < 20 && Accelerator.AcceleratorType != AcceleratorType.CPU);
        var probe = Stopwatch.StartNew();
        run();
        Accelerator.Synchronize();
        int calls = Math.Clamp((int)(3.0 / Math.Max(probe.Elapsed.TotalMilliseconds, 1e-3)), 1, 500);
        var samples = new double[7];
        for (int i = 0; i < samples.Length; i++)
        {
            var watch = Stopwatch.StartNew();
            for (int c = 0; c < calls; c++)
                run();
            Accelerator.Synchronize();
            samples[i] = watch.Elapsed.TotalMilliseconds / calls;
        }
        Array.Sort(samples);
        return samples[samples.Length / 2];
    }

    private TuningKey KeyOf(PlanRequest request) => TuningKey.For(request, DeviceName, DriverVersion, KernelVersion.Current);

    private void Warn(string message)
    {
        if (options.Warning is { } warning)
            warning(message);
        else
            Trace.TraceWarning(message);
    }

    private static void RequireDefined(ElementType type)
    {
        if (!Enum.IsDefined(type))
            throw new ArgumentOutOfRangeException(nameof(type), type, "type must be Float32, Float16 or BFloat16.");
    }

    /// <summary>The element type a storage type <typeparamref name="T"/> stands for.</summary>
    /// <exception cref="ArgumentException"><typeparamref name="T"/> is not float, System.Half or BFloat16.</exception>
    private static ElementType ElementTypeOf<T>() =>
        typeof(T) == typeof(float) ? ElementType.Float32
        : typeof(T) == typeof(Half) ? ElementType.Float16
        : typeof(T) == typeof(BFloat16) ? ElementType.BFloat16
        : throw new ArgumentException(
            $"Element type {typeof(T).FullName} is not supported; use float, System.Half or TinyFlash.BFloat16.", nameof(T));

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);
}
