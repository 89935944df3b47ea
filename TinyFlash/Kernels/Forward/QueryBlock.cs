using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The query rows a group owns and where its tensors start: the grid is (query block, batch·head), flattened, and
/// the latest query block runs first because under a causal mask it has the most key tiles, so the grid's tail
/// is short. Shared by every forward kernel.
/// </summary>
internal readonly struct QueryBlock
{
    /// <summary>batch·QueryHeads + head: the row of the log-sum-exp tensor.</summary>
    public readonly int BatchHead;

    /// <summary>First query row of the block, and one past its last valid row.</summary>
    public readonly int RowStart, RowEnd;

    /// <summary>Element index of feature 0 at position 0 of the query/output head, and of its key/value head.</summary>
    public readonly int QueryOrigin, KeyOrigin;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private QueryBlock(int batchHead, int rowStart, int rowEnd, int queryOrigin, int keyOrigin)
    {
        BatchHead = batchHead;
        RowStart = rowStart;
        RowEnd = rowEnd;
        QueryOrigin = queryOrigin;
        KeyOrigin = keyOrigin;
    }

    /// <summary>The block of this group (<see cref="Grid.IdxX"/>) with <paramref name="blockM"/> rows a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static QueryBlock OfGroup<T>(in AttentionParams<T> p, int blockM) where T : unmanaged
    {
        int group = Grid.IdxX;
        int queryBlock = p.QueryBlocks - 1 - group % p.QueryBlocks;
        int batchHead = group / p.QueryBlocks;
        int batch = batchHead / p.QueryHeads;
        int head = batchHead - batch * p.QueryHeads;
        int rowStart = queryBlock * blockM;
        return new QueryBlock(batchHead, rowStart, XMath.Min(rowStart + blockM, p.QueryLength),
            p.QueryStrides.Origin(batch, head), p.KeyStrides.Origin(batch, head / p.HeadsPerKeyValue));
    }
}
