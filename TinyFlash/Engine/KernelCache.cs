using System.Reflection;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Engine;

/// <summary>
/// Loaded kernels of one accelerator, one per specialised entry point, with their launchers. ILGPU's own cache
/// holds kernels weakly and never raises CUDA's shared-memory limit, so TinyFlash keeps them here: on CUDA every
/// kernel is allowed the device's opt-in shared memory (227 KiB on Hopper) once, when it is loaded.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator, long sharedMemoryLimit) : IDisposable
{
    private const int DefaultSharedMemoryLimit = 48 * 1024;
    private readonly Dictionary<MethodInfo, (Kernel Kernel, Delegate Launcher)> kernels = [];
    private readonly Lock gate = new();

    /// <summary>The launcher of <paramref name="entryPoint"/>, compiling and loading it on first use.</summary>
    /// <exception cref="TinyFlashException">ILGPU could not compile the kernel for this accelerator.</exception>
    public TLauncher Launcher<TLauncher>(MethodInfo entryPoint) where TLauncher : Delegate
    {
        lock (gate)
        {
            if (!kernels.TryGetValue(entryPoint, out var entry))
            {
                entry = Load<TLauncher>(entryPoint);
                kernels.Add(entryPoint, entry);
            }
            return (TLauncher)entry.Launcher;
        }
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

    private (Kernel, Delegate) Load<TLauncher>(MethodInfo entryPoint) where TLauncher : Delegate
    {
        Kernel kernel;
        try
        {
            kernel = accelerator.LoadKernel(entryPoint);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new TinyFlashException(
                $"ILGPU could not compile {Describe(entryPoint)} for '{accelerator.Name}': {e.Message} " +
                "If the accelerator was created outside TinyFlash, build its Context with EnableAlgorithms().", e);
        }
        if (kernel is CudaKernel cuda && sharedMemoryLimit > DefaultSharedMemoryLimit)
            CudaDriver.AllowDynamicSharedMemory(cuda.FunctionPtr, (int)sharedMemoryLimit);
        return (kernel, kernel.CreateLauncherDelegate<TLauncher>());
    }

    private static string Describe(MethodInfo method) =>
        method.DeclaringType is { } type ? $"{type.Name}.{method.Name}" : method.Name;

    /// <summary>Forgets every kernel (ILGPU owns and unloads them with the accelerator).</summary>
    public void Dispose()
    {
        lock (gate)
            kernels.Clear();
    }
}
