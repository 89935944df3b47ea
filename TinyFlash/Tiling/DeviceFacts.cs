using ILGPU.Runtime;

namespace TinyFlash.Tiling;

/// <summary>
/// What the planner needs to know about an accelerator. Built from the live device by the engine, or by hand in
/// tests to pin the planner's decisions for devices that are not present.
/// </summary>
/// <param name="Name">Device name, for messages.</param>
/// <param name="Type">CUDA, OpenCL or CPU.</param>
/// <param name="WarpSize">Threads that execute in lockstep (what the device reports; PoCL reports a work-group multiple).</param>
/// <param name="MaxGroupSize">Most threads a group may have.</param>
/// <param name="MaxSharedMemoryPerGroup">Most shared memory one group may use, in bytes, opt-in limits included.</param>
/// <param name="Multiprocessors">Groups that run side by side at full speed.</param>
/// <param name="SharedMemoryPerMultiprocessor">Shared memory all resident groups of a multiprocessor share, in bytes.</param>
/// <param name="RegistersPerMultiprocessor">32-bit registers all resident threads of a multiprocessor share.</param>
/// <param name="MaxThreadsPerMultiprocessor">Most threads resident on a multiprocessor.</param>
/// <param name="WarpGroupMma">
/// Whether the device runs Hopper's warpgroup products (<c>wgmma</c>, compute capability 9.0 exactly: the sm_90a
/// features do not carry over to later architectures).
/// </param>
internal sealed record DeviceFacts(
    string Name,
    AcceleratorType Type,
    int WarpSize,
    int MaxGroupSize,
    long MaxSharedMemoryPerGroup,
    int Multiprocessors,
    long SharedMemoryPerMultiprocessor,
    int RegistersPerMultiprocessor,
    int MaxThreadsPerMultiprocessor,
    bool WarpGroupMma = false)
{
    /// <summary>An NVIDIA H100 80GB HBM3 (sm_90) as the CUDA driver describes it.</summary>
    public static DeviceFacts H100 { get; } = new("NVIDIA H100 80GB HBM3", AcceleratorType.Cuda, 32, 1024,
        232448, 132, 233472, 65536, 2048, WarpGroupMma: true);
}
