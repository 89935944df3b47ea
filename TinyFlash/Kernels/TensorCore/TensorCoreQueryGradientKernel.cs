using ILGPU;
using TinyFlash.Kernels.Backward;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// dQ without atomics on tensor cores (fp16/bf16; deterministic): the twin of
/// <see cref="QueryGradientKernel{T, TCodec, TSlice, TShared, TTile, TModifier}"/> on <c>mma.sync</c>, laid out like the
/// forward kernel.
/// <code>
/// Group: W warps, B = 16·W query rows (warp w owns rows 16w …), key tiles of B keys the forward's order.
/// Shared memory (rows padded by 16 bytes):  Q dO [B][d]   K V [B][d] a stage
///
/// prologue   cp.async Q, dO; with two stages, key tile 0; each lane reads its rows' log-sum-exp (base 2, +∞ for
///            rows without keys) and D
/// key tile   wait for its cp.async K, V; barrier; with two stages, cp.async the next tile into the other stage
///                                                                                         ← overlaps below
///            S = Q·Kᵀ, dP = dO·Vᵀ   per 16 features: ldmatrix Q, dO (A), per 16 keys ldmatrix K, V (B), mma
///            modifiers, mask only if the tile straddles the mask edge
///            P = 2^(S·scale·log2 e − lse), dS = P∘(dP∘Z − D)                          per row, in registers
///            dQ += dS·K    dS repacked to 16 bits as the A operand, ldmatrix.trans K (B), mma
/// epilogue   dQ·scale → 16-bit pairs
/// </code>
/// Every dQ element is summed by one lane in one order: bit-identical from run to run.
/// </summary>
/// <typeparam name="TElement">fp16 or bf16.</typeparam>
/// <typeparam name="TScores">B/16 blocks of S and dP.</typeparam>
/// <typeparam name="TGradients">HeadDim/16 column blocks of one 16-row tile (dQ).</typeparam>
/// <typeparam name="TShape">The geometry as constants: W warps, one row tile, BlockN = 16·W, the head dim.</typeparam>
/// <typeparam name="TModifier">ALiBi, bias and dropout, or nothing (<see cref="NoScoreModifier"/>).</typeparam>
internal static class TensorCoreQueryGradientKernel<TElement, TScores, TGradients, TShape, TModifier>
    where TElement : struct, ITensorElement
    where TScores : struct, IScoreGradientBlocks
    where TGradients : struct, IColumnBlocks
    where TShape : struct, ITensorCoreShape
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (query block, sequence · head), 32·W threads.</summary>
    public static void Run(TensorCoreBackwardParams parameters)
    {
        BackwardParams<ushort> bp = parameters.Backward;
        AttentionParams<ushort> p = bp.Attention;
        TensorCoreGeometry g = default(TShape).Geometry;
        var tiles = new TensorCoreBackwardTiles(g);
        SharedBlock shared = SharedBlock.Dynamic();
        int thread = Group.IdxX;
        int lane = Warp.LaneIdx;
        int warpRow = GroupThreads.Warp * 16;
        int b = g.BlockN;
        uint pitch = (uint)g.PitchBytes;

        var block = QueryBlock.OfGroup(p, b);
        if (block.IsEmpty)
            return;
        int rowStart = block.RowStart;
        // Scores here are raw q·k: logits divided by the scale.
        TModifier modifier = default(TModifier).For(p, block, p.ScaleLog2 * 0.693147180559945309f);
        var keyTiles = KeyTileRange.For(p, block, b, b);
        tiles.LoadQueries(parameters, block, rowStart, shared, tiles.Resident, thread);
        // A tile's copies are waited for at the top of its step; with two stages the next tile's start after that wait,
        // so they overlap this tile's math.
        if (g.Stages == 2 && keyTiles.Count > 0)
            tiles.LoadKeys(parameters, block, keyTiles.TileAt(p.TileList, 0) * b, shared, tiles.Streamed(0), thread);
        CpAsync.Commit();
        int row = rowStart + warpRow + lane / 4;
        var logSumExp = new RowValues(QueryRowStatistics.LogSumExp2(p, block, row), QueryRowStatistics.LogSumExp2(p, block, row + 8), 0f, 0f);
        var delta = new RowValues(QueryRowStatistics.Delta(bp, block, row), QueryRowStatistics.Delta(bp, block, row + 8), 0f, 0f);

        // This lane's ldmatrix row addresses: Q, dO as A; K, V as B (not transposed) for S, dP; K transposed for dS·K.
        uint rowsA = LaneAddresses.RowsA(warpRow, lane, pitch);
        uint columnsB = LaneAddresses.ColumnsB(lane, pitch);
        uint rowsTransposedB = LaneAddresses.RowsTransposedB(lane, pitch);
        uint sixteenRows = 16 * pitch;

        TGradients gradQuery = default;
        for (int step = 0; step < keyTiles.Count; step++)
        {
            int stage = g.Stages == 2 ? step & 1 : 0;
            int tile = keyTiles.TileAt(p.TileList, step);
            int keyStart = tile * b;
            if (g.Stages == 1)
            {
                Group.Barrier(); // the previous tile's readers of K and V are done
                tiles.LoadKeys(parameters, block, keyStart, shared, tiles.Streamed(0), thread);
                CpAsync.Commit();
            }
            CpAsync.WaitAll();
            Group.Barrier(); // this tile is in; with two stages, the other stage's readers (the previous tile) are done
            if (g.Stages == 2)
            {
                if (step + 1 < keyTiles.Count)
                    tiles.LoadKeys(parameters, block, keyTiles.TileAt(p.TileList, step + 1) * b, shared, tiles.Streamed(1 - stage), thread);
                CpAsync.Commit();
            }

            int keys = tiles.Streamed(stage);
            TScores scores = default;
            int key = keyStart + 2 * (lane & 3);
            if (modifier.Drops)
                KeepDraws.Draw(ref scores, modifier, block.RowIndex + row, key, transposed: false);
            uint queryRows = (uint)tiles.Resident + rowsA, gradOutputRows = (uint)(tiles.Resident + tiles.Second) + rowsA;
            uint keyColumns = (uint)keys + columnsB, valueColumns = (uint)(keys + tiles.Second) + columnsB;
            for (int feature = 0; feature < g.HeadDim; feature += 16)
            {
                scores.Accumulate<TElement>(gradients: false, LdMatrix.X4(shared, queryRows), shared, keyColumns, sixteenRows);
                scores.Accumulate<TElement>(gradients: true, LdMatrix.X4(shared, gradOutputRows), shared, valueColumns, sixteenRows);
                queryRows += 32;
                gradOutputRows += 32;
                keyColumns += 32;
                valueColumns += 32;
            }
            if (!modifier.IsIdentity)
                scores.Modify(modifier.ForTile(keyTiles.IsMaskedAt(p.TileList, step)), row, key, transposed: false);
            if (keyTiles.IsPartial(tile, b, block.KeyLength))
                scores.Hide(key - row, block.DiagonalLow, block.DiagonalHigh, block.KeyLength - key);
            scores.SoftmaxGradientByRow(modifier, logSumExp, delta, p.ScaleLog2);
            scores.MultiplyInto<TElement, TGradients>(gradients: true, dropped: false, ref gradQuery, shared, (uint)keys + rowsTransposedB, sixteenRows, 32);
        }
        CpAsync.WaitAll();
        gradQuery.Store(new PackedPairs<TElement>(bp.GradQuery.Cast<uint>()), block.QueryOrigin + row * p.QueryStrides.Row + 2 * (lane & 3),
            p.QueryStrides.Row, block.RowEnd - row, RowValues.Broadcast(bp.Scale));
    }
}

/// <summary>A dq pass's query-row statistics, read into registers once a group (both dq kernels' lanes hold rows g and g + 8 of their warp).</summary>
internal static class QueryRowStatistics
{
    /// <summary>Row <paramref name="row"/>'s log-sum-exp in base 2; +∞ where the row saw no key or does not exist (its P is 0).</summary>
    public static float LogSumExp2(in AttentionParams<ushort> p, in QueryBlock block, int row)
    {
        bool inside = row < block.RowEnd;
        return SoftmaxMath.ProbabilityOffset(p.LogSumExp[inside ? block.RowIndex + row : 0], inside);
    }

    /// <summary>Row <paramref name="row"/>'s D; 0 where it does not exist.</summary>
    public static float Delta(in BackwardParams<ushort> bp, in QueryBlock block, int row) =>
        row < block.RowEnd ? bp.Delta[block.RowIndex + row] : 0f;
}
