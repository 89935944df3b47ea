using ILGPU.Runtime;
using TinyFlash.Kernels.Backward;

namespace TinyFlash.Tiling;

/// <summary>
/// Chooses the square tile B (query rows = keys = 4·ThreadsX, (B/4)² threads) of the portable backward kernels. A
/// group holds four row tiles (Q, dO, K, V: B × head dim each) and three B × B score tiles in shared memory
/// (<see cref="BackwardTiles"/>), so B is bounded by shared memory: 32 where it fits (64 threads, every key/value
/// tile reused by 32 query rows), else 16, else 8; 64 (256 threads) only where nothing smaller fits, which never
/// happens on a real device. The CPU accelerator gets the smallest tile that covers a warp. Not tuned by measurement
/// yet (see docs/backward.md).
/// </summary>
internal static class BackwardTilePlanner
{
    private static readonly int[] GpuBlocks = [32, 16, 8, 64];

    /// <summary>The tile for the backward pass of <paramref name="shape"/> on <paramref name="device"/>.</summary>
    /// <exception cref="NotSupportedException">No tile fits the device's limits.</exception>
    public static TilePlan Plan(AttentionShape shape, DeviceFacts device)
    {
        int[] blocks = device.Type == AcceleratorType.CPU ? (device.WarpSize > 16 ? [32, 16] : [16, 8]) : GpuBlocks;
        foreach (int block in blocks)
        {
            var plan = new TilePlan(block, block / 4, shape.HeadDim);
            if (Fits(plan, device))
                return plan;
        }
        throw new NotSupportedException(
            $"No backward tile for head dim {shape.HeadDim} fits device '{device.Name}' ({device.MaxGroupSize} threads and " +
            $"{device.MaxSharedMemoryPerGroup} bytes of shared memory a group; B = 8 needs {SharedBytes(new TilePlan(8, 2, shape.HeadDim))}).");
    }

    /// <summary>Shared memory a group of <paramref name="plan"/> uses in the backward kernels.</summary>
    public static long SharedBytes(TilePlan plan) => 16L * new BackwardTiles(plan.Geometry).SharedFloat4s;

    /// <summary>Whether <paramref name="plan"/> respects <paramref name="device"/>'s group limits.</summary>
    public static bool Fits(TilePlan plan, DeviceFacts device) =>
        plan.Threads <= device.MaxGroupSize && SharedBytes(plan) <= device.MaxSharedMemoryPerGroup;
}
