using ILGPU;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using TinyFlash.Tiling;

namespace TinyFlash.Engine;

/// <summary>
/// Finds the accelerators of this machine and creates the one a <see cref="BackendKind"/> asks for. Every context
/// TinyFlash creates compiles with the settings its kernels are tuned for: O2, fast math (<c>ex2.approx</c>),
/// ILGPU.Algorithms (for <c>XMath</c>) and the enhanced PTX backend.
/// </summary>
internal static class AcceleratorCatalog
{
    /// <summary>A context with TinyFlash's compiler settings and every device ILGPU can see.</summary>
    public static Context CreateContext()
    {
        PoclWorkarounds.PreferContinuationBasedBarriers();
        return Context.Create(builder => builder
            .Default()
            .EnableAlgorithms()
            .Optimize(OptimizationLevel.O2)
            .Math(MathMode.Fast)
            .PTXBackend(PTXBackendMode.Enhanced));
    }

    /// <summary>Every device the context lists, described.</summary>
    public static IReadOnlyList<DeviceInfo> Describe(Context context) =>
        context.Devices.Select(Describe).ToArray();

    /// <summary>
    /// The device for <paramref name="backend"/>: for <see cref="BackendKind.Auto"/> CUDA, then an OpenCL GPU,
    /// then the CPU; for <see cref="BackendKind.OpenCL"/> a GPU before a CPU runtime.
    /// </summary>
    /// <exception cref="BackendNotAvailableException">No device of that kind is present.</exception>
    public static Device Select(Context context, BackendKind backend)
    {
        Device? Pick(AcceleratorType type, bool gpuOnly) =>
            context.Devices.FirstOrDefault(d => d.AcceleratorType == type && (!gpuOnly || IsGpu(d)));

        Device? device = backend switch
        {
            BackendKind.Auto => Pick(AcceleratorType.Cuda, false) ?? Pick(AcceleratorType.OpenCL, true) ?? Pick(AcceleratorType.CPU, false),
            BackendKind.Cuda => Pick(AcceleratorType.Cuda, false),
            BackendKind.OpenCL => Pick(AcceleratorType.OpenCL, true) ?? Pick(AcceleratorType.OpenCL, false),
            BackendKind.Cpu => Pick(AcceleratorType.CPU, false),
            _ => throw new ArgumentOutOfRangeException(nameof(backend), backend, "Unknown backend kind."),
        };
        return device ?? throw new BackendNotAvailableException(backend, Describe(context));
    }

    /// <summary>Creates an accelerator on <paramref name="device"/>; CPU accelerators simulate threads in parallel.</summary>
    public static Accelerator Create(Context context, Device device) =>
        device is CPUDevice cpu
            ? cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel)
            : device.CreateAccelerator(context);

    /// <summary>The backend kind of an accelerator type.</summary>
    public static BackendKind KindOf(AcceleratorType type) => type switch
    {
        AcceleratorType.Cuda => BackendKind.Cuda,
        AcceleratorType.OpenCL => BackendKind.OpenCL,
        _ => BackendKind.Cpu,
    };

    /// <summary>The planner's view of a live accelerator, with CUDA's opt-in shared-memory limit and register file.</summary>
    public static DeviceFacts Facts(Accelerator accelerator)
    {
        if (accelerator is CudaAccelerator cuda)
            return new DeviceFacts(cuda.Name, AcceleratorType.Cuda, cuda.WarpSize, cuda.MaxNumThreadsPerGroup,
                CudaDriver.OptInSharedMemoryPerBlock(cuda.DeviceId), cuda.NumMultiprocessors,
                CudaDriver.SharedMemoryPerMultiprocessor(cuda.DeviceId), CudaDriver.RegistersPerMultiprocessor(cuda.DeviceId),
                cuda.MaxNumThreadsPerMultiprocessor, HasWarpGroupMma(cuda));
        // OpenCL and the CPU do not report a register file; their shared memory is per group.
        return new DeviceFacts(accelerator.Name, accelerator.AcceleratorType, accelerator.WarpSize,
            accelerator.MaxNumThreadsPerGroup, accelerator.MaxSharedMemoryPerGroup, accelerator.NumMultiprocessors,
            accelerator.MaxSharedMemoryPerGroup, int.MaxValue, Math.Max(accelerator.MaxNumThreadsPerMultiprocessor, accelerator.MaxNumThreadsPerGroup));
    }

    /// <summary>Compute capability 9.0 (H100, H200, GH200): the one architecture whose PTX target sm_90a has <c>wgmma</c>.</summary>
    public static bool HasWarpGroupMma(CudaAccelerator cuda) => cuda.Architecture is { Major: 9, Minor: 0 };

    private static DeviceInfo Describe(Device device)
    {
        long sharedMemory = device is CudaDevice cuda
            ? CudaDriver.OptInSharedMemoryPerBlock(cuda.DeviceId)
            : device.MaxSharedMemoryPerGroup;
        return new DeviceInfo(KindOf(device.AcceleratorType), device.Name, IsGpu(device), device.WarpSize,
            device.MaxNumThreadsPerGroup, sharedMemory, device.NumMultiprocessors, device.MemorySize);
    }

    private static bool IsGpu(Device device) => device switch
    {
        CudaDevice => true,
        CLDevice cl => cl.DeviceType.HasFlag(CLDeviceType.CL_DEVICE_TYPE_GPU),
        _ => false,
    };
}
