using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// Where a thread of a one-dimensional group of 32-lane warps (every tensor-core kernel's) sits, by shifts. ILGPU's
/// <c>Warp.WarpIdx</c> divides the linear thread index by the warp size as a signed division, which ptxas turns into a
/// reciprocal sequence and which ILGPU re-derives wherever it is used, inside the key loop too.
/// </summary>
internal static class GroupThreads
{
    /// <summary>This thread's warp in the group.</summary>
    public static int Warp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Group.IdxX >> 5;
    }

    /// <summary>
    /// This thread's warpgroup (four warps) in the group, broadcast from lane 0 so that ptxas knows it is the same across
    /// the warp and keeps the shared-memory descriptors derived from it in uniform registers, as the products need them.
    /// </summary>
    public static int WarpGroup
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ILGPU.Warp.Shuffle(Group.IdxX >> 7, 0);
    }
}
