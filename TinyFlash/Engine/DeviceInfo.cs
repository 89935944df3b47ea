namespace TinyFlash;

/// <summary>One accelerator TinyFlash can run on, as <see cref="FlashEngine.ListDevices"/> reports it.</summary>
/// <param name="Backend">CUDA, OpenCL or CPU.</param>
/// <param name="Name">The device's name.</param>
/// <param name="IsGpu">Whether the device is a GPU (OpenCL CPU runtimes such as PoCL are not).</param>
/// <param name="WarpSize">Threads that run in lockstep, as the device reports it.</param>
/// <param name="MaxGroupSize">Most threads a group may have.</param>
/// <param name="SharedMemoryPerGroup">Shared memory a group may use, in bytes, opt-in limits included.</param>
/// <param name="Multiprocessors">Multiprocessors (compute units).</param>
/// <param name="MemoryBytes">Device memory in bytes (<see cref="long.MaxValue"/> for the CPU accelerator).</param>
public sealed record DeviceInfo(
    BackendKind Backend,
    string Name,
    bool IsGpu,
    int WarpSize,
    int MaxGroupSize,
    long SharedMemoryPerGroup,
    int Multiprocessors,
    long MemoryBytes);
