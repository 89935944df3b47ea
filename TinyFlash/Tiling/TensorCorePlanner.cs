namespace TinyFlash.Tiling;

/// <summary>
/// Chooses the tile of the tensor-core kernel. Candidates per head-dimension class are ordered by measurement on the
/// H100 (fp16, N = 4096, <c>docs/tiling.md</c> has the sweep): two 16-row tiles a warp wherever the output fits in
/// registers (each K/V fragment then feeds two <c>mma</c>s), one beyond head dim 128; query lengths of 64 and less
/// (decode) get the smallest block covering them first. Those that fit the device's group limits are kept. A grid
/// too small for the device keeps the best tile and gets key splits (<see cref="TilePlanner"/>) rather than a smaller
/// tile: one 16-row tile a warp ran at 0.65 of two on the H100. Every tile gets a two-stage cp.async pipeline: on
/// the H100 a third stage cost a resident group for every tile above and ran 1.3–1.6× slower, and where a deeper
/// pipeline costs none (head dim 256: four stages) it was no faster (0.98×); the tuner still times the deepest
/// free one (<see cref="TilePlanner.DeepestFreeStages"/>) and one more than two.
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
        // A few query rows a head (decode, or decode with a key/value head's query heads packed as rows): the
        // smallest block that covers them, since the rest of a larger block would be padding.
        int blockN = shape.HeadDim <= 128 ? 64 : 32;
        (int Warps, int RowTiles, int BlockN)[] small = shape.QueryLength switch
        {
            <= 16 => [(1, 1, blockN), (1, 1, 2 * blockN), (1, 1, blockN / 2)],
            <= 32 => [(2, 1, blockN)],
            <= 64 => [(4, 1, blockN)],
            _ => [],
        };
        return small.Concat(measured)
            .Select(c => new TensorCorePlan(c.Warps, c.RowTiles, c.BlockN, shape.HeadDim))
            .Where(plan => Fits(plan, device))
            .ToArray();
    }

    /// <summary>Whether <paramref name="plan"/> respects the per-group limits of <paramref name="device"/>.</summary>
    public static bool Fits(TensorCorePlan plan, DeviceFacts device) =>
        device.WarpSize == 32 &&
        plan.Threads <= device.MaxGroupSize &&
        plan.SharedBytes <= device.MaxSharedMemoryPerGroup;
}
