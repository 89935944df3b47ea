namespace TinyFlash.Tiling;

/// <summary>
/// Chooses the tile of the tensor-core kernel. Candidates per head-dimension class are ordered by measurement on the
/// H100 (fp16, N = 4096, <c>docs/tiling.md</c> has the sweep): two 16-row tiles a warp wherever the output fits in
/// registers (each K/V fragment then feeds two <c>mma</c>s), one beyond head dim 128. Those that fit the device's
/// group limits are kept, and a candidate whose grid keeps every multiprocessor busy is preferred.
/// </summary>
internal static class TensorCorePlanner
{
    /// <summary>Every plan that fits <paramref name="device"/>, best first; empty where the kernel cannot run.</summary>
    public static IReadOnlyList<TensorCorePlan> Candidates(AttentionShape shape, DeviceFacts device)
    {
        if (shape.HeadDim % 16 != 0 || device.WarpSize != 32)
            return [];
        (int Warps, int RowTiles, int BlockN)[] measured = shape.HeadDim switch
        {
            <= 64 => [(4, 2, 128), (4, 2, 64), (8, 1, 64)],
            <= 96 => [(8, 2, 64), (4, 2, 64), (8, 1, 64)],
            <= 128 => [(4, 2, 64), (8, 2, 32), (4, 1, 64)],
            _ => [(8, 1, 32), (4, 1, 32), (4, 1, 64)],
        };
        return measured
            .Select(c => new TensorCorePlan(c.Warps, c.RowTiles, c.BlockN, shape.HeadDim))
            .Where(plan => Fits(plan, device))
            .OrderByDescending(plan => Math.Min(Groups(plan, shape), device.Multiprocessors))
            .ToArray();
    }

    /// <summary>Whether <paramref name="plan"/> respects the per-group limits of <paramref name="device"/>.</summary>
    public static bool Fits(TensorCorePlan plan, DeviceFacts device) =>
        device.WarpSize == 32 &&
        plan.Threads <= device.MaxGroupSize &&
        plan.SharedBytes <= device.MaxSharedMemoryPerGroup;

    private static long Groups(TensorCorePlan plan, AttentionShape shape) =>
        (long)(shape.QueryLength + plan.BlockM - 1) / plan.BlockM * shape.Batch * shape.QueryHeads;
}
