using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The query rows a group owns, where its tensors start and which keys its sequence has: the grid is
/// (key split, query block, sequence·head), flattened with the split fastest, and the latest query block runs first
/// because under a causal mask it has the most key tiles, so the grid's tail is short; under a block-sparse mask an
/// explicit order puts the blocks with the most tiles first for the same reason. A sequence is a batch element,
/// or with packed variable-length sequences one run of rows of the packed tensors; its key length may be a cache
/// length. The plan may instead take the same query block of every head together (<see cref="Tiling.GridOrder"/>:
/// the planner's order under a causal mask, where it starts the whole grid on its heaviest blocks). Shared by every
/// forward kernel.
/// </summary>
internal readonly struct QueryBlock
{
    /// <summary>Index, in the [batch·head][row] order of the log-sum-exp tensor, of row 0 of this block's sequence and head.</summary>
    public readonly int RowIndex;

    /// <summary>First query row of the block (counted within its sequence), and one past its last valid row.</summary>
    public readonly int RowStart, RowEnd;

    /// <summary>Element index of feature 0 at the sequence's position 0 of the query/output head, and of its key/value head.</summary>
    public readonly int QueryOrigin, KeyOrigin;

    /// <summary>Position in the key tensor of the sequence's first key (packed sequences), else 0: where dropout counts keys from.</summary>
    public readonly int KeyStart;

    /// <summary>Which of <see cref="AttentionParams{T}.KeySplits"/> shares of the key tiles this group visits.</summary>
    public readonly int Split;

    /// <summary>The batch element (0 for packed sequences) and query head of the block.</summary>
    public readonly int Batch, Head;

    /// <summary>Queries and keys the sequence has.</summary>
    public readonly int QueryLength, KeyLength;

    /// <summary>The mask band aligned to this sequence's lengths: key j is visible to query i when Low ≤ j − i ≤ High.</summary>
    public readonly int DiagonalLow, DiagonalHigh;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private QueryBlock(int rowIndex, int rowStart, int rowEnd, int queryOrigin, int keyOrigin, int keyStart, int split, int batch, int head,
        int queryLength, int keyLength, int diagonalLow, int diagonalHigh)
    {
        KeyStart = keyStart;
        Batch = batch;
        Head = head;
        RowIndex = rowIndex;
        RowStart = rowStart;
        RowEnd = rowEnd;
        QueryOrigin = queryOrigin;
        KeyOrigin = keyOrigin;
        Split = split;
        QueryLength = queryLength;
        KeyLength = keyLength;
        DiagonalLow = diagonalLow;
        DiagonalHigh = diagonalHigh;
    }

    /// <summary>Whether the block has no row (a short packed sequence leaves its later blocks empty).</summary>
    public bool IsEmpty => RowStart >= RowEnd;

    /// <summary>The block of this group (<see cref="Grid.IdxX"/>) with <paramref name="blockM"/> rows a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static QueryBlock OfGroup<T>(in AttentionParams<T> p, int blockM) where T : unmanaged
    {
        int group = Grid.IdxX / p.KeySplits;
        int split = Grid.IdxX - group * p.KeySplits;
        int queryBlock = p.QueryBlocks - 1 - group % p.QueryBlocks;
        int sequenceHead = group / p.QueryBlocks;
        if (p.BlocksTogether != 0)
        {
            queryBlock = p.QueryBlocks - 1 - group / p.BatchHeads;
            sequenceHead = group % p.BatchHeads;
        }
        if (p.GroupOrder.Length > 0)
        {
            int entry = p.GroupOrder[group];
            sequenceHead = entry / p.QueryBlocks;
            queryBlock = entry - sequenceHead * p.QueryBlocks;
        }
        int sequence = sequenceHead / p.QueryHeads;
        return Of(p, sequence, sequenceHead - sequence * p.QueryHeads, queryBlock, blockM, split);
    }

    /// <summary>
    /// Query block <paramref name="queryBlock"/> of <paramref name="blockM"/> rows of query head <paramref name="head"/>
    /// of <paramref name="sequence"/>, visiting key share <paramref name="split"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static QueryBlock Of<T>(in AttentionParams<T> p, int sequence, int head, int queryBlock, int blockM, int split) where T : unmanaged
    {
        int rowStart = queryBlock * blockM;
        int batch = sequence, queryStart = 0, keyStart = 0, queryLength = p.QueryLength, keyLength = p.KeyLength;
        if (p.QueryOffsets.Length > 0)
        {
            // Packed sequences: one batch element whose rows [QueryOffsets[s], QueryOffsets[s + 1]) are sequence s.
            batch = 0;
            queryStart = p.QueryOffsets[sequence];
            keyStart = p.KeyOffsets[sequence];
            queryLength = p.QueryOffsets[sequence + 1] - queryStart;
            keyLength = p.KeyOffsets[sequence + 1] - keyStart;
        }
        else if (p.KeyLengths.Length > 0)
            keyLength = p.KeyLengths[sequence];
        // Bottom-right alignment follows the sequence's own lengths (the band is given for the tensors' lengths).
        int shift = keyLength - queryLength - (p.KeyLength - p.QueryLength);
        return new QueryBlock(
            (batch * p.QueryHeads + head) * p.QueryLength + queryStart, rowStart, XMath.Min(rowStart + blockM, queryLength),
            p.QueryStrides.Origin(batch, head) + queryStart * p.QueryStrides.Row,
            p.KeyStrides.Origin(batch, head / p.HeadsPerKeyValue) + keyStart * p.KeyStrides.Row, keyStart,
            split, batch, head, queryLength, keyLength, p.DiagonalLow + shift, p.DiagonalHigh + shift);
    }
}
