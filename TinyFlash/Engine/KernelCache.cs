using System.Diagnostics;
using System.Reflection;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Engine;

/// <summary>
/// Loaded kernels of one accelerator, one per specialised entry point, with their launchers. ILGPU's own cache
/// holds kernels weakly and never raises CUDA's shared-memory limit, so TinyFlash keeps them here: on CUDA every
/// kernel's PTX has its inline-assembly operands moved to registers (<see cref="InlinePtxOperands"/>) before it is
/// loaded, and it is allowed the device's opt-in shared memory (227 KiB on Hopper) once. A kernel may be loaded with a
/// register limit (PTX <c>.maxnreg</c>, CUDA only), a kernel of its own in the cache.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator, long sharedMemoryLimit) : IDisposable
{
    private const int DefaultSharedMemoryLimit = 48 * 1024;
    private readonly Dictionary<(MethodInfo EntryPoint, int MaxRegisters), (Delegate Launcher, int MaxThreads, Kernel Kernel)> kernels = [];
    private readonly Lock gate = new();

    /// <summary>
    /// The launcher of <paramref name="entryPoint"/>, compiling and loading it on first use, and the most threads a
    /// group of it may have (on CUDA, what its register count allows; elsewhere the device's group limit).
    /// </summary>
    /// <param name="entryPoint">The kernel.</param>
    /// <param name="maxRegisters">
    /// On CUDA, at most this many registers a thread (ptxas spills beyond), so that more groups fit a multiprocessor;
    /// 0: ptxas's choice. Ignored elsewhere.
    /// </param>
    /// <exception cref="TinyFlashException">ILGPU could not compile the kernel for this accelerator.</exception>
    public (TLauncher Launcher, int MaxThreads) Load<TLauncher>(MethodInfo entryPoint, int maxRegisters = 0) where TLauncher : Delegate
    {
        var (launcher, maxThreads) = Load(entryPoint, typeof(TLauncher), maxRegisters);
        return ((TLauncher)launcher, maxThreads);
    }

    /// <summary><see cref="Load{TLauncher}"/> with the launcher's delegate type given at run time (for warm-up).</summary>
    public (Delegate Launcher, int MaxThreads) Load(MethodInfo entryPoint, Type launcherType, int maxRegisters = 0)
    {
        lock (gate)
        {
            if (!kernels.TryGetValue((entryPoint, maxRegisters), out var entry))
            {
                entry = Compile(entryPoint, launcherType, maxRegisters);
                kernels.Add((entryPoint, maxRegisters), entry);
            }
            return (entry.Launcher, entry.MaxThreads);
        }
    }

    /// <summary>
    /// Groups of a loaded kernel (<see cref="Load"/> first) with <paramref name="threads"/> threads and
    /// <paramref name="dynamicSharedBytes"/> of dynamic shared memory that one multiprocessor runs at once: on CUDA what
    /// the driver computes from the kernel's registers and shared memory; null elsewhere.
    /// </summary>
    public int? ResidentGroups(MethodInfo entryPoint, int maxRegisters, int threads, int dynamicSharedBytes)
    {
        lock (gate)
            return kernels[(entryPoint, maxRegisters)].Kernel is CudaKernel cuda
                ? CudaDriver.ResidentGroups(cuda.FunctionPtr, threads, dynamicSharedBytes)
                : null;
    }

    /// <summary>Number of kernels compiled so far.</summary>
    public int Count
    {
        get
        {
            lock (gate)
                return kernels.Count;
        }
    }

    private (Delegate, int, Kernel) Compile(MethodInfo entryPoint, Type launcherType, int maxRegisters)
    {
        Kernel kernel;
        var jitLog = new JitLog();
        try
        {
            Trace.Listeners.Add(jitLog);
            kernel = accelerator is CudaAccelerator cudaAccelerator
                ? accelerator.LoadKernel(InlinePtxOperands.Compile(cudaAccelerator, entryPoint, maxRegisters))
                : accelerator.LoadKernel(entryPoint);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A CUDA kernel whose module failed to load has already registered itself with the accelerator, which
            // would try to unload its null module when disposed (CUDA: invalid resource handle). It is held weakly
            // and referenced by nothing else: collecting it now lets the engine dispose cleanly later.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            throw new TinyFlashException(
                $"ILGPU could not compile {Describe(entryPoint)} for '{accelerator.Name}': {e.Message}{jitLog.Text} " +
                "If the accelerator was created outside TinyFlash, build its Context with EnableAlgorithms().", e);
        }
        finally
        {
            Trace.Listeners.Remove(jitLog);
        }
        int maxThreads = accelerator.MaxNumThreadsPerGroup;
        if (kernel is CudaKernel cuda)
        {
            if (sharedMemoryLimit > DefaultSharedMemoryLimit)
                CudaDriver.AllowSharedMemory(cuda.FunctionPtr, (int)sharedMemoryLimit);
            maxThreads = CudaDriver.MaxThreadsPerGroup(cuda.FunctionPtr);
        }
        var launcher = (Delegate)CreateLauncher.MakeGenericMethod(launcherType).Invoke(kernel, null)!;
        return (launcher, maxThreads, kernel);
    }

    /// <summary>What ILGPU traces while loading a kernel: on CUDA, the driver's JIT error log when a module fails to load.</summary>
    private sealed class JitLog : TraceListener
    {
        private readonly System.Text.StringBuilder text = new();

        /// <summary>The log, as " (JIT log: …)", or empty.</summary>
        public string Text => text.Length == 0 ? "" : $" (JIT log: {text.ToString().Trim()})";

        public override void Write(string? message) => text.Append(message);

        public override void WriteLine(string? message) => text.Append(message).Append(' ');
    }

    private static readonly MethodInfo CreateLauncher =
        typeof(Kernel).GetMethod(nameof(Kernel.CreateLauncherDelegate), Type.EmptyTypes)!;

    private static string Describe(MethodInfo method) =>
        method.DeclaringType is { } type ? $"{type.Name}.{method.Name}" : method.Name;

    /// <summary>Forgets every kernel (ILGPU owns and unloads them with the accelerator).</summary>
    public void Dispose()
    {
        lock (gate)
            kernels.Clear();
    }
}
