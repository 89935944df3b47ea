using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Engine;
using TinyFlash.Tiling;
using Half = System.Half;

namespace TinyFlash;

/// <summary>
/// Fused attention on one ILGPU accelerator: <c>softmax(Q·Kᵀ·scale + mask)·V</c> computed tile by tile, never
/// materialising the score matrix, with fp32 softmax statistics whatever the storage type.
/// </summary>
/// <remarks>
/// An engine compiles each kernel variant once (the first call of a shape family pays the JIT) and keeps it.
/// Calls on one engine are serialised; use one engine per thread for concurrency.
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
    private readonly Lock gate = new();
    private bool disposed;

    private FlashEngine(Accelerator accelerator, Context? ownedContext)
    {
        Accelerator = accelerator;
        this.ownedContext = ownedContext;
        ownsAccelerator = ownedContext is not null;
        Facts = AcceleratorCatalog.Facts(accelerator);
        kernels = new KernelCache(accelerator, Facts.MaxSharedMemoryPerGroup);
        Allocator = new DeviceAllocator(accelerator);
        Forward = new ForwardAttention(accelerator, kernels, Facts);
    }

    /// <summary>Creates an engine on the best device of <paramref name="backend"/>, owning its accelerator.</summary>
    /// <exception cref="BackendNotAvailableException">No device of that backend is present; the message lists those that are.</exception>
    public static FlashEngine Create(BackendKind backend = BackendKind.Auto)
    {
        var context = AcceleratorCatalog.CreateContext();
        try
        {
            var device = AcceleratorCatalog.Select(context, backend);
            return new FlashEngine(AcceleratorCatalog.Create(context, device), context);
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
    public static FlashEngine Create(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new FlashEngine(accelerator, ownedContext: null);
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

    /// <summary>The engine's device allocations (host-convenience copies).</summary>
    internal DeviceAllocator Allocator { get; }

    /// <summary>Kernels compiled so far by this engine.</summary>
    internal int CompiledKernels => kernels.Count;

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

    /// <summary><see cref="Attention{T}"/> with a forced tile plan instead of the planner's, for tile measurements.</summary>
    internal void AttentionWithPlan<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        AttentionShape shape, AttentionOptions? options, ArrayView<float> logSumExp, ForwardPlan plan)
        where T : unmanaged =>
        AttentionOnDevice(q, k, v, output, shape, options, logSumExp, plan);

    /// <summary>Unloads the kernels and, if the engine created it, releases the accelerator.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed)
                return;
            disposed = true;
            kernels.Dispose();
            if (ownsAccelerator)
                Accelerator.Dispose();
            ownedContext?.Dispose();
        }
    }

    private TElement[] AttentionOnHost<TElement>(ReadOnlySpan<TElement> q, ReadOnlySpan<TElement> k,
        ReadOnlySpan<TElement> v, AttentionShape shape, AttentionOptions? options) where TElement : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            var problem = AttentionValidator.Validate(shape, options);
            AttentionValidator.RequireExactLength(q.Length, shape.QueryElements, nameof(q));
            AttentionValidator.RequireExactLength(k.Length, shape.KeyValueElements, nameof(k));
            AttentionValidator.RequireExactLength(v.Length, shape.KeyValueElements, nameof(v));

            var buffers = Allocator.AllocateAll<TElement>(
                [(q.Length, nameof(q)), (k.Length, nameof(k)), (v.Length, nameof(v)), (q.Length, "output")]);
            try
            {
                buffers[0].View.CopyFromCPU(ref MemoryMarshal.GetReference(q), q.Length);
                buffers[1].View.CopyFromCPU(ref MemoryMarshal.GetReference(k), k.Length);
                buffers[2].View.CopyFromCPU(ref MemoryMarshal.GetReference(v), v.Length);
                Launch<TElement>(buffers[0].View, buffers[1].View, buffers[2].View, buffers[3].View, default, problem, plan: null);
                var result = new TElement[q.Length];
                buffers[3].View.CopyToCPU(ref result[0], result.Length);
                return result;
            }
            finally
            {
                foreach (var buffer in buffers)
                    buffer.Dispose();
            }
        }
    }

    private void AttentionOnDevice<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        AttentionShape shape, AttentionOptions? options, ArrayView<float> logSumExp, ForwardPlan? plan)
        where T : unmanaged
    {
        lock (gate)
        {
            ThrowIfDisposed();
            RequireSupportedElement<T>();
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
        }
    }

    /// <summary>Casts the views to their storage type and launches; <see cref="ForwardAttention.StorageOf"/> picks the codec.</summary>
    private void Launch<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<T> output,
        ArrayView<float> logSumExp, AttentionProblem problem, ForwardPlan? plan) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
            Forward.Run(q.Cast<float>(), k.Cast<float>(), v.Cast<float>(), output.Cast<float>(), logSumExp, ElementType.Float32, problem, plan);
        else
            Forward.Run(q.Cast<ushort>(), k.Cast<ushort>(), v.Cast<ushort>(), output.Cast<ushort>(), logSumExp,
                typeof(T) == typeof(Half) ? ElementType.Float16 : ElementType.BFloat16, problem, plan);
    }

    private static void RequireSupportedElement<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(Half) && typeof(T) != typeof(BFloat16))
            throw new ArgumentException(
                $"Element type {typeof(T).FullName} is not supported; use float, System.Half or TinyFlash.BFloat16.", nameof(T));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);
}
