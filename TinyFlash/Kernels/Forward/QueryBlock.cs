using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The query rows a group owns, where its tensors start and which keys its sequence has: the grid is
/// (key split, query block, batch·head), flattened with the split fastest, and the latest query block runs first
/// because under a causal mask it has the most key tiles, so the grid's tail is short. Shared by every forward kernel.
/// </summary>
internal readonly struct QueryBlock
{
    /// <summary>batch·QueryHeads + head: the row of the log-sum-exp tensor.</summary>
    public readonly int BatchHead;

    /// <summary>First query row of the block, and one past its last valid row.</summary>
    public readonly int RowStart, RowEnd;

    /// <summary>Element index of feature 0 at position 0 of the query/output head, and of its key/value head.</summary>
    public readonly int QueryOrigin, KeyOrigin;

    /// <summary>Which of <see cref="AttentionParams{T}.KeySplits"/> shares of the key tiles this group visits.</summary>
    public readonly int Split;

    /// <summary>Keys the sequence has (its cache length, or the tensor's key length).</summary>
    public readonly int KeyLength;

    /// <summary>The mask band aligned to this sequence's key length: key j is visible to query i when Low ≤ j − i ≤ High.</summary>
    public readonly int DiagonalLow, DiagonalHigh;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private QueryBlock(int batchHead, int rowStart, int rowEnd, int queryOrigin, int keyOrigin, int split, int keyLength,
        int diagonalLow, int diagonalHigh)
    {
        BatchHead = batchHead;
        RowStart = rowStart;
        RowEnd = rowEnd;
        QueryOrigin = queryOrigin;
        KeyOrigin = keyOrigin;
        Split = split;
        KeyLength = keyLength;
        DiagonalLow = diagonalLow;
        DiagonalHigh = diagonalHigh;
    }

    /// <summary>The block of this group (<see cref="Grid.IdxX"/>) with <paramref name="blockM"/> rows a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static QueryBlock OfGroup<T>(in AttentionParams<T> p, int blockM) where T : unmanaged
    {
        int group = Grid.IdxX / p.KeySplits;
        int split = Grid.IdxX - group * p.KeySplits;
        int queryBlock = p.QueryBlocks - 1 - group % p.QueryBlocks;
        int batchHead = group / p.QueryBlocks;
        int batch = batchHead / p.QueryHeads;
        int head = batchHead - batch * p.QueryHeads;
        int rowStart = queryBlock * blockM;
        // Bottom-right alignment follows the sequence's own length: a shorter cache moves the diagonal left.
        int keyLength = p.KeyLengths.Length > 0 ? p.KeyLengths[batch] : p.KeyLength;
        int shift = keyLength - p.KeyLength;
        return new QueryBlock(batchHead, rowStart, XMath.Min(rowStart + blockM, p.QueryLength),
            p.QueryStrides.Origin(batch, head), p.KeyStrides.Origin(batch, head / p.HeadsPerKeyValue), split, keyLength,
            p.DiagonalLow + shift, p.DiagonalHigh + shift);
    }
}
