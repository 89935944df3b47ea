namespace TinyFlash.Tiling;

/// <summary>
/// Chooses the tile of the warpgroup kernel, on devices with Hopper's warpgroup products (<see cref="DeviceFacts.WarpGroupMma"/>)
/// and head dims that are multiples of 64 up to 256. Candidates per head dim are ordered by measurement on the H200
/// (fp16, N = 4096, <c>docs/tiling.md</c>; 2026-12-02 session 2 run 1, kernel version 2026-12-02.2: head dim 128 2x128
/// 404.9 TFLOP/s, with three stages 372.2, 1x128 236.9; head dim 64 1x128 337.3; earlier, run 2: head dim 128 2x64 263,
/// head dim 64 2x64 260 and 2x128 243 against 1x128 277, head dim 256 2x64 322, 1x64 169); those
/// that fit the device's group limits are kept. Whether this kernel or the <c>mma.sync</c> one leads is
/// <see cref="TilePlanner"/>'s choice.
/// </summary>
internal static class WarpGroupPlanner
{
    /// <summary>Every plan that fits <paramref name="device"/>, best first; empty where the kernel cannot run.</summary>
    public static IReadOnlyList<WarpGroupPlan> Candidates(AttentionShape shape, DeviceFacts device)
    {
        if (!device.WarpGroupMma || shape.HeadDim % 64 != 0 || shape.HeadDim > 256)
            return [];
        (int WarpGroups, int BlockN, int Stages)[] measured = shape.HeadDim switch
        {
            64 => [(1, 128, 2), (2, 64, 2), (2, 128, 2)],
            128 => [(2, 128, 2), (2, 128, 3), (2, 64, 2)],
            _ => [(2, 64, 2), (1, 64, 2), (1, 64, 3)],
        };
        return measured
            .Select(c => new WarpGroupPlan(c.WarpGroups, c.BlockN, shape.HeadDim, c.Stages))
            .Where(plan => Fits(plan, device))
            .ToArray();
    }

    /// <summary>
    /// Whether <paramref name="plan"/> respects the per-group limits of <paramref name="device"/> (whether the device has
    /// the instructions is the caller's question: the tests run the kernel's twins on a CPU device).
    /// </summary>
    public static bool Fits(WarpGroupPlan plan, DeviceFacts device) =>
        device.WarpSize == 32 &&
        plan.Threads <= device.MaxGroupSize &&
        plan.SharedBytes <= device.MaxSharedMemoryPerGroup;

}
