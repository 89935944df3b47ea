using ILGPU.Runtime;

namespace TinyFlash.Tiling;

/// <summary>
/// Chooses the tile geometry of the portable forward kernel from the head dimension and the device's limits.
/// This is the one place tile sizes come from; kernels only read the plan.
/// </summary>
/// <remarks>
/// GPUs get the largest tile that fits the group's shared memory and thread limits, largest first:
/// 64 query rows × 64 keys with 256 threads holds 16 score and 4·chunks output registers a thread and reads
/// each shared K/V element for 64 (resp. 16) FMAs. The CPU accelerator runs one OS thread per simulated thread
/// and synchronises groups with OS barriers, so it gets the smallest group that still covers a warp.
/// </remarks>
internal static class TilePlanner
{
    /// <summary>Candidate (BlockM, ThreadsX) pairs for GPUs, most preferred first.</summary>
    private static readonly (int BlockM, int ThreadsX)[] GpuCandidates =
    [
        (64, 16), (32, 16), (64, 8), (32, 8), (16, 8), (16, 4), (8, 4), (4, 4), (4, 2), (4, 1),
    ];

    /// <summary>The plan for a forward pass of <paramref name="headDim"/> on <paramref name="device"/>.</summary>
    /// <exception cref="NotSupportedException">No candidate fits the device's limits.</exception>
    public static TilePlan PlanForward(int headDim, DeviceFacts device)
    {
        if (device.Type == AcceleratorType.CPU)
        {
            int threads = Math.Min(device.MaxGroupSize, Math.Max(16, device.WarpSize));
            int threadsX = threads >= 16 ? 4 : Math.Max(1, threads / 4);
            return new TilePlan(BlockM: 4 * (threads / threadsX), ThreadsX: threadsX, HeadDim: headDim);
        }

        foreach (var (blockM, threadsX) in GpuCandidates)
        {
            var plan = new TilePlan(blockM, threadsX, headDim);
            if (Fits(plan, device))
                return plan;
        }
        throw new NotSupportedException(
            $"No attention tile for head dim {headDim} fits device '{device.Name}' " +
            $"({device.MaxGroupSize} threads and {device.MaxSharedMemoryPerGroup} bytes of shared memory a group).");
    }

    /// <summary>Whether <paramref name="plan"/> respects every limit of <paramref name="device"/>.</summary>
    public static bool Fits(TilePlan plan, DeviceFacts device) =>
        plan.Threads <= device.MaxGroupSize && plan.SharedBytes <= device.MaxSharedMemoryPerGroup;
}
