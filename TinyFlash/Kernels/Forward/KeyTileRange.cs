using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The key tiles a query block must visit under the band mask <c>low ≤ key − query ≤ high</c>: the union of its
/// rows' bands (tiles outside are never loaded), and inside it the tiles every row sees whole (no per-element mask).
/// Shared by every forward kernel so that all of them skip the same work.
/// </summary>
internal readonly struct KeyTileRange
{
    /// <summary>First and last tile to visit (Last &lt; First when none is visible).</summary>
    public readonly int First, Last;

    /// <summary>First and last tile every row of the block sees whole, and every key of which exists.</summary>
    public readonly int FirstWhole, LastWhole;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private KeyTileRange(int first, int last, int firstWhole, int lastWhole)
    {
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
    /// Share <paramref name="split"/> of <paramref name="splits"/> near-equal runs of this range's tiles (flash-decoding:
    /// several groups cover one query block's keys); empty when the range has fewer tiles than splits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public KeyTileRange Split(int split, int splits)
    {
        int perSplit = (Last - First + splits) / splits;
        int first = First + split * perSplit;
        return new KeyTileRange(first, XMath.Min(Last, first + perSplit - 1), FirstWhole, LastWhole);
    }

    /// <summary>Whether some score of <paramref name="tile"/> is hidden or past the last key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsPartial(int tile) => tile < FirstWhole || tile > LastWhole;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CeilDiv(int a, int b) => -FloorDiv(-a, b);
}
