using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The tensor-core forward pass for fp16 and bf16 (FlashAttention-2 on <c>mma.sync</c> m16n8k16, fp32 accumulators).
/// <code>
/// Group: W warps, BlockM = 16·R·W query rows (warp w owns rows 16·R·w … +16·R, R = 1 or 2), key tiles of BlockN.
/// Shared memory (rows padded by 16 bytes):  Q [BlockM][d]   K₀ V₀ [BlockN][d]  …  K_{S−1} V_{S−1} [BlockN][d]
///
/// prologue   cp.async Q and tile 0 → stage 0, tiles 1 … S−2 → stages 1 … S−2 (S pipeline stages, 2 to 4)
/// tile i     wait until my copies of tile i landed (S−2 later groups may still fly); barrier (tile i landed
///            everywhere; stage (i−1) mod S, read by tile i−1, is free)
///            cp.async tile i+S−1 → stage (i+S−1) mod S               ← overlaps everything below
///            S  = Q·Kᵀ     d/16 steps (two an iteration): ldmatrix Q (A) ×R, per 16 keys ldmatrix K (B), 2R mma      S in registers
///            mask S only if the tile straddles the mask edge
///            m' = max(m, rowmax S) (quad shuffles); O, l scaled by 2^(m−m')·scale only where m moved
///            P  = 2^(S·scale·log2 e − m'·scale·log2 e), l += rowsum P (per lane; summed over the quad at the end);
///            dropout (if asked) multiplies P by its keep factors after the sum
///            O += P·V      P repacked to 16 bits in registers as the A operand (C and A layouts coincide),
///                          per 16 keys × 16 features: ldmatrix.trans V (B), 2R mma
/// epilogue   O / l (0 for rows that saw no key) → 16-bit pairs; log-sum-exp
///
/// With key splits (flash-decoding, for grids too small to fill the device) group (split, block) visits one share of
/// the block's tiles and writes its rows in fp32 with their log-sum-exp; SplitCombineKernel merges the shares.
/// </code>
/// S and O live in <typeparamref name="TScores"/> and <typeparamref name="TOutput"/>, trees of 16-column blocks
/// (<see cref="IColumnBlocks"/>), so every register index is a constant though ILGPU does not unroll. All PTX is in
/// <see cref="Instructions"/>, whose portable twins run this same kernel on ILGPU's CPU accelerator in the tests.
/// </summary>
/// <typeparam name="TElement">fp16 or bf16.</typeparam>
/// <typeparam name="TScores">BlockN/16 column blocks.</typeparam>
/// <typeparam name="TOutput">HeadDim/16 column blocks.</typeparam>
/// <typeparam name="TShape">The geometry as constants.</typeparam>
/// <typeparam name="TModifier">Softcap, ALiBi and bias, or nothing (<see cref="NoScoreModifier"/>: the plain kernel).</typeparam>
internal static class TensorCoreForwardKernel<TElement, TScores, TOutput, TShape, TModifier>
    where TElement : struct, ITensorElement
    where TScores : struct, IColumnBlocks
    where TOutput : struct, IColumnBlocks
    where TShape : struct, ITensorCoreShape
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (query block, batch·head), <see cref="TensorCoreGeometry.Threads"/> threads.</summary>
    public static void Run(TensorCoreParams parameters)
    {
        AttentionParams<ushort> p = parameters.Attention;
        TensorCoreGeometry g = default(TShape).Geometry;
        SharedBlock shared = SharedBlock.Dynamic();
        int thread = Group.IdxX;
        int lane = Warp.LaneIdx;
        int warpRow = GroupThreads.Warp * 16 * g.RowTiles;
        uint pitch = (uint)g.PitchBytes;

        var block = QueryBlock.OfGroup(p, g.BlockM);
        if (block.IsEmpty)
            return;
        // Scores here are raw q·k: logits divided by the scale.
        TModifier modifier = default(TModifier).For(p, block, p.ScaleLog2 * 0.693147180559945309f);
        var tiles = KeyTileRange.For(p, block, g.BlockM, g.BlockN);

        TensorCoreRows.Load(shared, 0, p.Query, parameters.QueryAddress, block.QueryOrigin, p.QueryStrides,
            block.RowStart, block.QueryLength, g.BlockM, g, thread);
        // One commit group a tile, empty past the last, so that waiting for all but the newest S − 2 always means
        // "this step's tile has landed".
        for (int ahead = 0; ahead < g.Stages - 1; ahead++)
        {
            if (ahead < tiles.Count)
                LoadKeysValues(parameters, g, shared, ahead, block, tiles.TileAt(p.TileList, ahead) * g.BlockN, thread);
            CpAsync.Commit();
        }

        // This lane's row address for each ldmatrix.x4: Q as A (rows × features), K as B stored [key][feature],
        // V as B stored [key][feature] read transposed (k = keys).
        uint queryLane = LaneAddresses.RowsA(warpRow, lane, pitch);
        uint keyLane = LaneAddresses.ColumnsB(lane, pitch);
        uint valueLane = LaneAddresses.RowsTransposedB(lane, pitch);
        uint sixteenRows = 16 * pitch;

        TOutput output = default;
        RowValues max = RowValues.Broadcast(float.NegativeInfinity);
        RowValues sums = default;
        int stage = 0, loadStage = g.Stages - 1;
        for (int step = 0; step < tiles.Count; step++)
        {
            CpAsync.WaitPending(g.Stages - 2);
            Group.Barrier();
            if (step + g.Stages - 1 < tiles.Count)
                LoadKeysValues(parameters, g, shared, loadStage, block, tiles.TileAt(p.TileList, step + g.Stages - 1) * g.BlockN, thread);
            CpAsync.Commit();
            loadStage = loadStage + 1 == g.Stages ? 0 : loadStage + 1;

            // S = Q·Kᵀ, two 16-feature steps an iteration so that ptxas can overlap one step's loads with the
            // other's mma (ILGPU does not unroll); an odd last step (head dims 80, 208) is peeled off.
            TScores scores = default;
            TileSoftmax.DrawKeep(ref scores, p, block, tiles, modifier, step, g.BlockN, warpRow, lane);
            uint query = queryLane;
            uint key = (uint)g.KeyOffset(stage) + keyLane;
            for (int feature = 32; feature <= g.HeadDim; feature += 32)
            {
                AccumulateScores(ref scores, shared, query, key, sixteenRows, g.RowTiles);
                AccumulateScores(ref scores, shared, query + 32, key + 32, sixteenRows, g.RowTiles);
                query += 64;
                key += 64;
            }
            if (g.HeadDim % 32 != 0)
                AccumulateScores(ref scores, shared, query, key, sixteenRows, g.RowTiles);

            TileSoftmax.Step(ref scores, ref output, ref max, ref sums, p, block, tiles, modifier, step, g.BlockN, warpRow, lane);
            scores.MultiplyInto<TElement, TOutput>(modifier.Drops, ref output, shared, (uint)g.ValueOffset(stage) + valueLane, sixteenRows, 32);
            stage = stage + 1 == g.Stages ? 0 : stage + 1;
        }
        CpAsync.WaitAll();
        TileSoftmax.Store<TElement, TOutput>(output, max, sums, p, block, g.HeadDim, g.RowTiles, warpRow, lane, modifier.KeepScale);
    }

    /// <summary>S += Q·Kᵀ over one 16-feature step: the warp's Q fragments, then K block by block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AccumulateScores(ref TScores scores, SharedBlock shared, uint query, uint key, uint sixteenRows, int rowTiles)
    {
        var q = new WarpOperand { First = LdMatrix.X4(shared, query) };
        if (rowTiles == 2)
            q.Second = LdMatrix.X4(shared, query + sixteenRows);
        scores.MultiplyAccumulate<TElement>(q, shared, key, sixteenRows, transposed: false);
    }

    /// <summary>Starts the copies of the key and value tile from <paramref name="keyStart"/> into pipeline stage <paramref name="stage"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadKeysValues(in TensorCoreParams parameters, TensorCoreGeometry g, SharedBlock shared,
        int stage, in QueryBlock block, int keyStart, int thread)
    {
        AttentionParams<ushort> p = parameters.Attention;
        TensorCoreRows.Load(shared, (uint)g.KeyOffset(stage), p.Key, parameters.KeyAddress, block.KeyOrigin, TensorStrides.Even(p.KeyStrides.Row),
            keyStart, block.KeyLength, g.BlockN, g, thread);
        TensorCoreRows.Load(shared, (uint)g.ValueOffset(stage), p.Value, parameters.ValueAddress, block.KeyOrigin, TensorStrides.Even(p.KeyStrides.Row),
            keyStart, block.KeyLength, g.BlockN, g, thread);
    }
}
