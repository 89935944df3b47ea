using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// This lane's row address (bytes from a shared tile's start, rows <c>pitch</c> apart) for an <c>ldmatrix.x4</c> of
/// 16 rows × 16 elements: the four 8×8 matrices are read by lanes 8m … 8m+7, so each operand kind names which rows and
/// which 8-element half lane l supplies. Every tensor-core kernel addresses its operands through these.
/// </summary>
internal static class LaneAddresses
{
    /// <summary>A operand (16 rows × 16 k) of rows <paramref name="firstRow"/>…: rows 0–7 | 8–15 | 0–7 | 8–15, k +0 | +0 | +8 | +8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint RowsA(int firstRow, int lane, uint pitch) => (uint)(firstRow + (lane & 7) + (lane & 8)) * pitch + 16u * (uint)(lane >> 4);

    /// <summary>B operand stored as [n][k] (16 columns × 16 k): columns 0–7 | 0–7 | 8–15 | 8–15, k +0 | +8 | +0 | +8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ColumnsB(int lane, uint pitch) => (uint)((lane & 7) + 8 * (lane >> 4)) * pitch + 2u * (uint)(lane & 8);

    /// <summary>B operand stored as [k][n], read with <c>.trans</c> (16 k × 16 columns): k 0–7 | 8–15 | 0–7 | 8–15, columns +0 | +0 | +8 | +8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint RowsTransposedB(int lane, uint pitch) => (uint)((lane & 7) + (lane & 8)) * pitch + 16u * (uint)(lane >> 4);
}
