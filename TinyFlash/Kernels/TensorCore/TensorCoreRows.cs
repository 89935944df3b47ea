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
        TensorStrides strides, int firstRow, int rowLimit, int rows, TensorCoreGeometry g, int thread) =>
        Load(shared, offset, source, address, origin, strides, firstRow, rowLimit, rows, g.HeadDim, g.Threads,
            new PaddedRows((uint)g.PitchBytes), thread);

    /// <summary>
    /// <see cref="Load"/> into a tile laid out for the warpgroup products (<see cref="SwizzledRows"/>) by
    /// <paramref name="threads"/> threads, of which this is <paramref name="thread"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadSwizzled(SharedBlock shared, uint offset, ArrayView<ushort> source, ulong address, int origin,
        TensorStrides strides, int firstRow, int rowLimit, int rows, int headDim, int threads, int thread) =>
        Load(shared, offset, source, address, origin, strides, firstRow, rowLimit, rows, headDim, threads,
            new SwizzledRows(rows), thread);

    /// <remarks>
    /// Where the threads cover whole rows a pass and a pass moves every thread by a whole period of the layout (all the
    /// tiles of these kernels but for head dims 96, 192 and some 256), each thread copies the same chunk of every
    /// <c>threads / chunksPerRow</c>-th row, so its shared offset advances by a constant and the loop body is a compare,
    /// the source index and the copy; otherwise each chunk's row and column are derived from its number.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Load<TLayout>(SharedBlock shared, uint offset, ArrayView<ushort> source, ulong address, int origin,
        TensorStrides strides, int firstRow, int rowLimit, int rows, int headDim, int threads, TLayout layout, int thread)
        where TLayout : struct, IRowLayout
    {
        int chunksPerRow = headDim / 8;
        int rowStep = threads / chunksPerRow;
        if (threads % chunksPerRow == 0 && rowStep % layout.RowPeriod == 0)
        {
            int row = thread / chunksPerRow;
            int column = thread - row * chunksPerRow;
            uint target = offset + layout.Offset(row, column);
            uint targetStep = (uint)rowStep * layout.RowBytes;
            // Evenly spaced rows (a constant where the caller passes TensorStrides.Even): the source index steps too.
            bool even = strides.PackedPositions == 0;
            int index = origin + (firstRow + row) * strides.Row + 8 * column, indexStep = rowStep * strides.Row;
            int visible = rowLimit - firstRow;
            for (; row < rows; row += rowStep)
            {
                bool inside = row < visible;
                int at = even ? index : origin + strides.RowOffset(firstRow + row) + 8 * column;
                CpAsync.Copy16(shared, target, source, address, inside ? at : origin, inside);
                target += targetStep;
                index += indexStep;
            }
            return;
        }
        for (int chunk = thread; chunk < rows * chunksPerRow; chunk += threads)
        {
            int row = chunk / chunksPerRow;
            int column = chunk - row * chunksPerRow;
            bool inside = firstRow + row < rowLimit;
            CpAsync.Copy16(shared, offset + layout.Offset(row, column), source, address,
                inside ? origin + strides.RowOffset(firstRow + row) + 8 * column : origin, inside);
        }
    }
}

/// <summary>Where a shared tile keeps the 16-byte chunk <c>c</c> of its row <c>r</c> (bytes from the tile's start).</summary>
internal interface IRowLayout
{
    /// <summary>The chunk's byte offset.</summary>
    uint Offset(int row, int chunk);

    /// <summary>
    /// Rows after which the layout repeats: row r + <see cref="RowPeriod"/>·k keeps row r's chunk order, <see cref="RowBytes"/>·(its
    /// distance) further on.
    /// </summary>
    int RowPeriod { get; }

    /// <summary>Bytes from a row to the next within a run of rows laid out alike.</summary>
    uint RowBytes { get; }
}

/// <summary>Rows <c>pitch</c> bytes apart, chunks in order: the <c>ldmatrix</c> tiles (padded, see <see cref="TensorCoreGeometry"/>).</summary>
internal readonly struct PaddedRows(uint pitch) : IRowLayout
{
    private readonly uint pitch = pitch;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Offset(int row, int chunk) => (uint)row * pitch + 16u * (uint)chunk;

    /// <inheritdoc/>
    public int RowPeriod => 1;

    /// <inheritdoc/>
    public uint RowBytes => pitch;
}

/// <summary>
/// A tile of <c>rows</c> rows laid out as the warpgroup products read it (the 128-byte swizzle of <see cref="WarpGroupMma"/>):
/// the features cut into panels of 64 (panel p holds features 64p … 64p + 63 of every row, rows × 128 bytes), and within a
/// panel the chunk u of row r at position u XOR (r mod 8) of its 128-byte row. Eight rows' same chunk then sit in eight
/// different bank groups, and a panel is what one descriptor names: 8-row groups 1024 bytes apart. The tile must start on
/// a 1024-byte boundary, as the swizzle is a function of the address.
/// </summary>
internal readonly struct SwizzledRows(int rows) : IRowLayout
{
    private readonly int rows = rows;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Offset(int row, int chunk) =>
        (uint)((chunk >> 3) * rows + row) * WarpGroupMma.RowBytes + (uint)(((chunk & 7) ^ (row & 7)) << 4);

    /// <inheritdoc/>
    public int RowPeriod => 8;

    /// <inheritdoc/>
    public uint RowBytes => WarpGroupMma.RowBytes;
}
