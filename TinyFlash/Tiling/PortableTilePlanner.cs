using ILGPU.Runtime;

namespace TinyFlash.Tiling;

/// <summary>
/// Chooses the tile geometry of the portable forward kernel from the shape and the device's limits. This is the one
/// place tile sizes come from; kernels only read the plan. The cost model is written down in <c>docs/tiling.md</c>.
/// </summary>
/// <remarks>
/// On GPUs every (BlockM, ThreadsX) candidate that respects the group limits (threads, shared memory, registers)
/// is ranked, in this order, by: the multiprocessors its grid keeps busy (a grid smaller than the device leaves
/// some idle whatever the tile); the threads it keeps resident on a multiprocessor, capped at 16 warps (enough to
/// hide shared-memory and FMA latency in measurements on the H100); whether at least two groups share a
/// multiprocessor (one group's loads and barriers overlap another's arithmetic; a lone group stalls at each
/// barrier); BlockM up to 128 (each K/V tile serves more query rows; beyond 128 measurements showed no gain); and
/// the number of groups per multiprocessor. The CPU accelerator runs one OS thread per simulated thread
/// and synchronises groups with OS barriers, so it gets the smallest group that still covers a warp.
/// </remarks>
internal static class PortableTilePlanner
{
    /// <summary>Threads per multiprocessor (16 warps) beyond which more residency stopped paying in measurements (H100).</summary>
    private const int SaturatingThreads = 512;

    /// <summary>Query rows a tile beyond which a larger tile stopped paying in measurements (H100).</summary>
    private const int ReuseSaturatingBlockM = 128;

    /// <summary>Registers a CUDA thread can address; a kernel estimated above this would spill to local memory.</summary>
    private const int MaxRegistersPerThread = 255;

    /// <summary>Candidate (BlockM, ThreadsX) pairs for GPUs.</summary>
    private static readonly (int BlockM, int ThreadsX)[] GpuCandidates =
    [
        (128, 16), (64, 16), (32, 16), (256, 8), (128, 8), (64, 8), (32, 8), (16, 8), (16, 4), (8, 4), (4, 4), (4, 2),
    ];

    /// <summary>The plan for a forward pass of <paramref name="shape"/> on <paramref name="device"/>.</summary>
    /// <exception cref="NotSupportedException">No candidate fits the device's limits.</exception>
    public static TilePlan PlanForward(AttentionShape shape, DeviceFacts device) =>
        Candidates(shape, device).FirstOrDefault() ?? throw new NotSupportedException(
            $"No attention tile for head dim {shape.HeadDim} fits device '{device.Name}' " +
            $"({device.MaxGroupSize} threads and {device.MaxSharedMemoryPerGroup} bytes of shared memory a group).");

    /// <summary>Every plan that fits <paramref name="device"/>, best first.</summary>
    public static IEnumerable<TilePlan> Candidates(AttentionShape shape, DeviceFacts device)
    {
        if (device.Type == AcceleratorType.CPU)
        {
            int threads = Math.Min(device.MaxGroupSize, Math.Max(16, device.WarpSize));
            int threadsX = threads >= 16 ? 4 : 2;
            return [new TilePlan(4 * (threads / threadsX), threadsX, shape.HeadDim)];
        }
        return GpuCandidates
            .Select(c => new TilePlan(c.BlockM, c.ThreadsX, shape.HeadDim))
            .Where(plan => Fits(plan, device))
            .OrderByDescending(plan => Math.Min(Groups(plan, shape), device.Multiprocessors))
            .ThenByDescending(plan => ResidentThreads(plan, shape, device))
            .ThenByDescending(plan => TilePlanner.ResidentGroups(plan, device) >= 2)
            .ThenByDescending(plan => Math.Min(plan.BlockM, ReuseSaturatingBlockM))
            .ThenByDescending(plan => TilePlanner.ResidentGroups(plan, device))
            .ToArray();
    }

    /// <summary>Whether <paramref name="plan"/> respects every per-group limit of <paramref name="device"/>.</summary>
    public static bool Fits(TilePlan plan, DeviceFacts device) =>
        plan.Threads <= device.MaxGroupSize &&
        plan.SharedBytes <= device.MaxSharedMemoryPerGroup &&
        (device.Type != AcceleratorType.Cuda ||
         plan.EstimatedRegisters <= MaxRegistersPerThread &&
         (long)plan.EstimatedRegisters * plan.Threads <= device.RegistersPerMultiprocessor);

    /// <summary>Groups the grid of <paramref name="plan"/> has for <paramref name="shape"/>.</summary>
    private static long Groups(TilePlan plan, AttentionShape shape) =>
        (long)(shape.QueryLength + plan.BlockM - 1) / plan.BlockM * shape.Batch * shape.QueryHeads;

    /// <summary>Resident threads a busy multiprocessor gets, capped where more stopped helping, for this grid.</summary>
    private static long ResidentThreads(TilePlan plan, AttentionShape shape, DeviceFacts device)
    {
        long resident = TilePlanner.ResidentGroups(plan, device) * plan.Threads;
        long available = Math.Max(plan.Threads, Groups(plan, shape) * plan.Threads / Math.Max(1, device.Multiprocessors));
        return Math.Min(SaturatingThreads, Math.Min(resident, available));
    }
}
