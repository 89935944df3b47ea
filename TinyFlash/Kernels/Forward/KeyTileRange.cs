using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The key tiles a query block must visit, in order: under the band mask <c>low ≤ key − query ≤ high</c> the union
/// of its rows' bands (tiles outside are never loaded), and inside it the tiles every row sees whole (no per-element
/// mask); under a block-sparse mask the block's entries of a work list (tile·2, + 1 where the element mask applies).
/// Kernels walk it by step (<see cref="Count"/>, <see cref="TileAt"/>). Shared by every forward kernel so that all of
/// them skip the same work.
/// </summary>
internal readonly struct KeyTileRange
{
    /// <summary>First and last tile to visit, or first and last work-list entry (Last &lt; First when none is visible).</summary>
    public readonly int First, Last;

    /// <summary>Whether the tiles come from a work list (block-sparse) rather than a band.</summary>
    public readonly bool Listed;

    /// <summary>First and last tile every row of the block sees whole, and every key of which exists.</summary>
    public readonly int FirstWhole, LastWhole;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private KeyTileRange(int first, int last, int firstWhole, int lastWhole, bool listed = false)
    {
        Listed = listed;
        First = first;
        Last = last;
        FirstWhole = firstWhole;
        LastWhole = lastWhole;
    }

    /// <summary>The range for rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) and tiles of <paramref name="blockN"/> keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KeyTileRange Of(int rowStart, int rowEnd, int keyLength, int low, int high, int blockN)
    {
        int firstKey = XMath.Max(0, rowStart + low);
        int lastKey = XMath.Min(keyLength - 1, rowEnd - 1 + high);
        int first = FloorDiv(firstKey, blockN);
        int last = firstKey <= lastKey ? FloorDiv(lastKey, blockN) : first - 1;
        int firstWhole = XMath.Max(first, CeilDiv(rowEnd - 1 + low, blockN));
        int lastWhole = XMath.Min(
            XMath.Min(last, keyLength / blockN - 1),
            FloorDiv(rowStart + high - (blockN - 1), blockN));
        return new KeyTileRange(first, last, firstWhole, lastWhole);
    }

    /// <summary>
    /// The tiles <paramref name="block"/> visits, split-share included: its work list under a block-sparse mask, else
    /// its band.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KeyTileRange For<T>(in AttentionParams<T> p, in QueryBlock block, int blockM, int blockN) where T : unmanaged
    {
        if (p.TileList.Length == 0)
        {
            // Packed query heads: the band of the positions the block's rows hold (all of them once it wraps a head).
            int first = p.QueryStrides.Position(block.RowStart);
            int end = first + (block.RowEnd - block.RowStart);
            if (p.QueryStrides.PackedPositions > 0 && end > p.QueryStrides.PackedPositions)
            {
                first = 0;
                end = p.QueryStrides.PackedPositions;
            }
            return Of(first, end, block.KeyLength, block.DiagonalLow, block.DiagonalHigh, blockN).Split(block.Split, p.KeySplits);
        }
        int row = (block.Batch * p.TilePlaneBatchStride + block.Head * p.TilePlaneHeadStride) * p.QueryBlocks + block.RowStart / blockM;
        return OfList(p.TileListEntries + p.TileList[row], p.TileListEntries + p.TileList[row + 1]).Split(block.Split, p.KeySplits);
    }

    /// <summary>
    /// The query tiles of <paramref name="blockM"/> rows that see keys [<paramref name="keyStart"/>, + blockM) (key block
    /// <paramref name="keyBlock"/> of <paramref name="keyBlocks"/>) of <paramref name="block"/>'s sequence and head, for
    /// the backward's key-block kernels: a block-sparse mask's work list by key block, else the band seen from the keys,
    /// −high ≤ i − j ≤ −low (none when the block holds no key of the sequence).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KeyTileRange QueriesFor<T>(in AttentionParams<T> p, in QueryBlock block, int keyBlocks, int keyBlock, int keyStart, int blockM)
        where T : unmanaged
    {
        if (p.TileList.Length > 0)
        {
            int row = (block.Batch * p.TilePlaneBatchStride + block.Head * p.TilePlaneHeadStride) * keyBlocks + keyBlock;
            return OfList(p.TileListEntries + p.TileList[row], p.TileListEntries + p.TileList[row + 1]);
        }
        int keyEnd = XMath.Min(keyStart + blockM, block.KeyLength);
        return keyStart < keyEnd
            ? Of(keyStart, keyEnd, block.QueryLength, -block.DiagonalHigh, -block.DiagonalLow, blockM)
            : OfList(0, 0);
    }

    /// <summary>The work-list entries [<paramref name="start"/>, <paramref name="end"/>) of a block-sparse mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KeyTileRange OfList(int start, int end) => new(start, end - 1, 0, -1, listed: true);

    /// <summary>Tiles to visit.</summary>
    public int Count => Last - First + 1;

    /// <summary>The tile of step <paramref name="step"/> (0 … <see cref="Count"/> − 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TileAt(ArrayView<int> list, int step) => Listed ? list[First + step] >> 1 : First + step;

    /// <summary>Whether the element mask of a block-sparse mask applies in the tile of step <paramref name="step"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsMaskedAt(ArrayView<int> list, int step) => Listed && (list[First + step] & 1) != 0;

    /// <summary>
    /// Share <paramref name="split"/> of <paramref name="splits"/> near-equal runs of this range's tiles (flash-decoding:
    /// several groups cover one query block's keys); empty when the range has fewer tiles than splits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public KeyTileRange Split(int split, int splits)
    {
        int perSplit = (Last - First + splits) / splits;
        int first = First + split * perSplit;
        return new KeyTileRange(first, XMath.Min(Last, first + perSplit - 1), FirstWhole, LastWhole, Listed);
    }

    /// <summary>
    /// Whether the band hides some score of <paramref name="tile"/> or some of its keys lie past the last one (for a work
    /// list, only the latter: its band is unbounded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsPartial(int tile, int blockN, int keyLength) =>
        Listed ? (tile + 1) * blockN > keyLength : tile < FirstWhole || tile > LastWhole;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CeilDiv(int a, int b) => -FloorDiv(-a, b);
}
