using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>How the tensor-core kernels fill a shared tile: rows of a 16-bit tensor by <c>cp.async</c>, 16 bytes a copy.</summary>
internal static class TensorCoreRows
{
    /// <summary>
    /// Copies <paramref name="rows"/> rows of <paramref name="source"/> from <paramref name="firstRow"/> into shared
    /// memory at <paramref name="offset"/> (rows <see cref="TensorCoreGeometry.PitchBytes"/> apart), consecutive threads
    /// along a row; zeros past <paramref name="rowLimit"/>. Row r starts at <paramref name="origin"/> +
    /// <paramref name="strides"/>.RowOffset(r): pass <see cref="TensorStrides.Even"/> where rows are evenly spaced, so
    /// that the packed-heads branch folds away.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(SharedBlock shared, uint offset, ArrayView<ushort> source, ulong address, int origin,
        TensorStrides strides, int firstRow, int rowLimit, int rows, TensorCoreGeometry g, int thread)
    {
        int chunksPerRow = g.HeadDim / 8;
        for (int chunk = thread; chunk < rows * chunksPerRow; chunk += g.Threads)
        {
            int row = chunk / chunksPerRow;
            int column = chunk - row * chunksPerRow;
            bool inside = firstRow + row < rowLimit;
            CpAsync.Copy16(shared, offset + (uint)(row * g.PitchBytes + 16 * column), source, address,
                inside ? origin + strides.RowOffset(firstRow + row) + 8 * column : origin, inside);
        }
    }
}
