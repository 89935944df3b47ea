using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// Asynchronous global → shared copies (<c>cp.async</c>, sm_80+): the copy engine fills shared memory while the warp
/// computes, which is what lets the next key/value tile load during this tile's math. The twin copies at once.
/// </summary>
internal static class CpAsync
{
    /// <summary>
    /// Copies the eight 16-bit elements at <paramref name="index"/> of <paramref name="source"/> (whose device address
    /// is <paramref name="sourceAddress"/>, 16-byte aligned) to byte <paramref name="offset"/> of shared memory, or
    /// writes eight zeros when <paramref name="inside"/> is false (then <paramref name="index"/> need only be a valid
    /// element: nothing is read).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy16(SharedBlock shared, uint offset, ArrayView<ushort> source, ulong sourceAddress, int index, bool inside)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("cp.async.cg.shared.global [%0], [%1], 16, %2;",
                shared.Address + offset, sourceAddress + 2ul * (uint)index, inside ? 16u : 0u);
            return;
        }
        CopyTwin(shared, offset, source, index, inside);
    }

    /// <summary>Twin of <see cref="Copy16"/> (out of line: on CUDA its call is removed).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CopyTwin(SharedBlock shared, uint offset, ArrayView<ushort> source, int index, bool inside)
    {
        int target = (int)(offset / 2);
        for (int i = 0; i < 8; i++)
            shared.View[target + i] = inside ? source[index + i] : (ushort)0;
    }

    /// <summary>
    /// Copies <paramref name="bytes"/> (4, 8 or 16, a compile-time constant) from global address <paramref name="source"/>
    /// to shared address <paramref name="target"/>, both aligned to the size: <c>cp.async.ca</c> for 4 and 8 bytes (the
    /// only form below 16), <c>.cg</c> (past L1) for 16. CUDA only: the caller, which holds the views, keeps the twin.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(uint target, ulong source, int bytes)
    {
        if (bytes == 4)
            CudaAsm.Emit("cp.async.ca.shared.global [%0], [%1], 4;", target, source);
        else if (bytes == 8)
            CudaAsm.Emit("cp.async.ca.shared.global [%0], [%1], 8;", target, source);
        else
            CudaAsm.Emit("cp.async.cg.shared.global [%0], [%1], 16;", target, source);
    }

    /// <summary>Closes the group of copies issued so far by this thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Commit()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("cp.async.commit_group;");
    }

    /// <summary>
    /// Waits until at most <paramref name="pending"/> (0, 1 or 2, a compile-time constant) of this thread's newest
    /// groups are still in flight: with S pipeline stages, S − 2 leaves the later tiles' copies running.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WaitPending(int pending)
    {
        if (!CudaAsm.IsSupported)
            return;
        if (pending == 0)
            CudaAsm.Emit("cp.async.wait_group 0;");
        else if (pending == 1)
            CudaAsm.Emit("cp.async.wait_group 1;");
        else
            CudaAsm.Emit("cp.async.wait_group 2;");
    }

    /// <summary>Waits until every copy this thread issued has landed (other threads' copies need a group barrier after).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WaitAll()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("cp.async.wait_all;");
    }
}
