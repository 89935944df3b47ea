using ILGPU;
using TinyFlash.Kernels.Backward;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The backward's dq pass on Hopper's warpgroup products (fp16/bf16; deterministic):
/// <see cref="TensorCoreQueryGradientKernel{TElement, TScores, TGradients, TShape, TModifier}"/>'s loop with a warpgroup
/// where that kernel has four warps, and the same registers (warp v owns query rows 16v … 16v + 15 of S, dP and dQ).
/// <code>
/// Group: one warpgroup, B = 64 query rows, key tiles of 64 keys in the forward's order, head dim d (64 or 128).
/// Shared memory: WarpGroupBackwardTiles, Q dO resident, K V streamed in two stages.
///
/// prologue   cp.async Q, dO and key tile 0 → stage 0; each lane reads its rows' log-sum-exp (base 2, +∞ for rows
///            without keys) and D
/// key tile   wait for its copies and for the last tile's products (they read the other stage); publish the copies to
///            the async proxy; barrier; cp.async the next tile → the other stage            ← lands during this tile
///            S = Q·Kᵀ, dP = dO·Vᵀ   per 16 features one wgmma m64n64k16 each, all operands K-major in shared memory;
///                                   commit; dropout's kept bits (Philox, indices only) while they run; wait
///            modifiers, mask only if the tile straddles the mask edge
///            P = 2^(S·scale·log2 e − lse), dS = P∘(dP∘Z − D)                      per row, in registers
///            dQ += dS·K    per 16 keys dS repacked to 16 bits as the A operand in registers, one wgmma m64n64k16 per
///                          64 features, K read MN-major; commit
/// epilogue   wait; dQ·scale → 16-bit pairs
/// </code>
/// Every dQ element is summed by one lane in one order: bit-identical from run to run.
/// </summary>
/// <typeparam name="TElement">fp16 or bf16.</typeparam>
/// <typeparam name="TGradients">HeadDim/64 leaves (dQ).</typeparam>
/// <typeparam name="THeadDim">The head dim, 64 or 128.</typeparam>
/// <typeparam name="TModifier">ALiBi, bias and dropout, or nothing (<see cref="NoScoreModifier"/>).</typeparam>
internal static class WarpGroupQueryGradientKernel<TElement, TGradients, THeadDim, TModifier>
    where TElement : struct, ITensorElement
    where TGradients : struct, IWarpGroupBlocks
    where THeadDim : struct, Shared.IConstant
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (query block, sequence · head), <see cref="WarpGroupBackwardTiles.Threads"/> threads.</summary>
    public static void Run(TensorCoreBackwardParams parameters)
    {
        BackwardParams<ushort> bp = parameters.Backward;
        AttentionParams<ushort> p = bp.Attention;
        const int b = WarpGroupBackwardTiles.Block;
        int headDim = default(THeadDim).Value;
        var tiles = new WarpGroupBackwardTiles(headDim, SharedBlock.Dynamic());
        SharedBlock shared = tiles.Shared;
        int thread = Group.IdxX;
        int lane = Warp.LaneIdx;
        int warpRow = GroupThreads.Warp * 16;

        var block = QueryBlock.OfGroup(p, b);
        if (block.IsEmpty)
            return;
        int rowStart = block.RowStart;
        // Scores here are raw q·k: logits divided by the scale.
        TModifier modifier = default(TModifier).For(p, block, p.ScaleLog2 * 0.693147180559945309f);
        var keyTiles = KeyTileRange.For(p, block, b, b);
        tiles.LoadQueries(parameters, block, rowStart, tiles.Resident, thread);
        if (keyTiles.Count > 0)
            tiles.LoadKeys(parameters, block, keyTiles.TileAt(p.TileList, 0) * b, tiles.Streamed(0), thread);
        CpAsync.Commit();
        int row = rowStart + warpRow + lane / 4;
        var logSumExp = new RowValues(QueryRowStatistics.LogSumExp2(p, block, row), QueryRowStatistics.LogSumExp2(p, block, row + 8), 0f, 0f);
        var delta = new RowValues(QueryRowStatistics.Delta(bp, block, row), QueryRowStatistics.Delta(bp, block, row + 8), 0f, 0f);

        TGradients gradQuery = default;
        for (int step = 0; step < keyTiles.Count; step++)
        {
            int stage = step & 1;
            int keyStart = keyTiles.TileAt(p.TileList, step) * b;
            CpAsync.WaitAll();
            WarpGroupMma.Wait();
            WarpGroupMma.PublishSharedWrites();
            Group.Barrier(); // this tile is in; the other stage's readers (the last tile's products) are done
            if (step + 1 < keyTiles.Count)
                tiles.LoadKeys(parameters, block, keyTiles.TileAt(p.TileList, step + 1) * b, tiles.Streamed(1 - stage), thread);
            CpAsync.Commit();

            uint keys = tiles.Streamed(stage);
            WarpGroupScoreGradients scores = default;
            WarpGroupMma.Fence();
            scores.Multiply<TElement>(gradients: false, shared, tiles.KMajor(tiles.Resident), tiles.KMajor(keys), headDim, WarpGroupBackwardTiles.PanelBytes);
            scores.Multiply<TElement>(gradients: true, shared, tiles.KMajor(tiles.Resident + (uint)tiles.TileBytes), tiles.KMajor(keys + (uint)tiles.TileBytes),
                headDim, WarpGroupBackwardTiles.PanelBytes);
            WarpGroupMma.Commit();
            int key = keyStart + 2 * (lane & 3);
            if (modifier.Drops) // while the products run
                scores.DrawKeep(modifier, block.RowIndex + row, key, transposed: false);
            WarpGroupMma.Wait();

            if (!modifier.IsIdentity)
                scores.Modify(modifier.ForTile(keyTiles.IsMaskedAt(p.TileList, step)), row, key, transposed: false);
            if (keyTiles.IsPartial(keyStart / b, b, block.KeyLength))
                scores.Hide(key - row, block.DiagonalLow, block.DiagonalHigh, block.KeyLength - key);
            scores.SoftmaxGradientByRow(modifier, logSumExp, delta, p.ScaleLog2);
            scores.MultiplyInto<TElement, TGradients>(gradients: true, dropped: false, ref gradQuery, shared, tiles.MNMajor(keys), WarpGroupBackwardTiles.SixteenRows,
                WarpGroupBackwardTiles.PanelBytes);
            WarpGroupMma.Commit();
        }
        WarpGroupMma.Wait();
        CpAsync.WaitAll();
        gradQuery.Store(new PackedPairs<TElement>(bp.GradQuery.Cast<uint>()), block.QueryOrigin + row * p.QueryStrides.Row + 2 * (lane & 3),
            p.QueryStrides.Row, block.RowEnd - row, RowValues.Broadcast(bp.Scale));
    }
}
