using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// One warpgroup running each <see cref="WarpGroupMma"/> product on known 64×64 operands, so that a device's
/// instructions and their twins can be checked against the same host product (<see cref="Reference.WarpGroupCheck"/>):
/// the swizzled layout, the descriptors, and the register order of A fragments and accumulators, in isolation from
/// the attention kernel that relies on them. A is [64 rows][64 k], B [64 n][64 k] (for A·Bᵀ) or [64 k][64 n] (for
/// A·B), D [64][64] fp32; four 16-k steps, as the kernel makes them.
/// </summary>
/// <typeparam name="TElement">fp16 or bf16.</typeparam>
internal static class WarpGroupProbeKernel<TElement> where TElement : struct, ITensorElement
{
    /// <summary>Bytes of dynamic shared memory a launch needs: two swizzled 64×64 tiles and the alignment slack.</summary>
    public const int SharedBytes = 2 * 64 * 128 + (int)WarpGroupMma.SwizzleBytes;

    /// <summary>D = A·Bᵀ, A and B from shared memory (K-major).</summary>
    public static void SharedShared(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> d)
    {
        var shared = SharedBlock.Dynamic();
        uint start = WarpGroupGeometry.AlignedStart(shared);
        Fill(shared, start, a);
        Fill(shared, start + 64 * WarpGroupMma.RowBytes, b);
        Group.Barrier();
        ulong da = WarpGroupMma.Descriptor(shared.Address + start, 0, WarpGroupMma.SwizzleBytes);
        ulong db = WarpGroupMma.Descriptor(shared.Address + start + 64 * WarpGroupMma.RowBytes, 0, WarpGroupMma.SwizzleBytes);
        var product = default(WarpGroupBlock);
        WarpGroupMma.Fence();
        for (uint step = 0; step < 4; step++)
            product.WarpGroupAccumulate<TElement>(shared, WarpGroupMma.Advance(da, 32 * step), WarpGroupMma.Advance(db, 32 * step), 0, accumulate: step > 0);
        WarpGroupMma.Commit();
        WarpGroupMma.Wait();
        Store(product, d);
    }

    /// <summary>D = A·B, A from registers (this warp's fragments, read from global memory), B from shared memory (MN-major).</summary>
    public static void RegisterShared(ArrayView<ushort> a, ArrayView<ushort> b, ArrayView<float> d)
    {
        var shared = SharedBlock.Dynamic();
        uint start = WarpGroupGeometry.AlignedStart(shared);
        Fill(shared, start, b);
        Group.Barrier();
        ulong db = WarpGroupMma.Descriptor(shared.Address + start, 64 * WarpGroupMma.RowBytes, WarpGroupMma.SwizzleBytes);
        int row = 16 * (Warp.WarpIdx % 4) + Warp.LaneIdx / 4, k = 2 * (Warp.LaneIdx % 4);
        var product = default(WarpGroupBlock);
        WarpGroupMma.Fence();
        for (int step = 0; step < 4; step++)
        {
            int column = 16 * step + k;
            var fragment = new Fragment(Pair(a, row, column), Pair(a, row + 8, column), Pair(a, row, column + 8), Pair(a, row + 8, column + 8));
            WarpGroupMma.Fence();
            product.WarpGroupAccumulate<TElement>(shared, fragment, WarpGroupMma.Advance(db, 16 * (uint)step * WarpGroupMma.RowBytes), 0);
        }
        WarpGroupMma.Commit();
        WarpGroupMma.Wait();
        Store(product, d);
    }

    /// <summary>A 64×64 tile into shared memory at <paramref name="offset"/>, swizzled, by plain stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fill(SharedBlock shared, uint offset, ArrayView<ushort> tile)
    {
        var layout = new SwizzledRows(64);
        for (int i = Group.IdxX; i < 64 * 64; i += Group.DimX)
            shared.Store16(offset + layout.Offset(i / 64, i % 64 / 8) + 2u * (uint)(i % 8), tile[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Pair(ArrayView<ushort> a, int row, int column) => a[64 * row + column] | (uint)a[64 * row + column + 1] << 16;

    /// <summary>This lane's 32 accumulators to their places in D (rows g, g + 8 of its warp's 16; columns 2t, 2t + 1 of each 8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(in WarpGroupBlock product, ArrayView<float> d)
    {
        int index = 64 * (16 * (Warp.WarpIdx % 4) + Warp.LaneIdx / 4) + 2 * (Warp.LaneIdx % 4);
        product.Store(new FloatPairs(d), index, 64, 16 - Warp.LaneIdx / 4, RowValues.Broadcast(1f));
    }
}
