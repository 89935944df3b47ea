using ILGPU;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;
using TinyFlash.Kernels.Shared;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// The backward pass's main kernel (FlashAttention-2's loop order): group g owns B keys of one (sequence, key/value
/// head), keeps K and V in shared memory and dK, dV in registers, and streams past them the query tiles that see
/// these keys, for every query head that reads this key/value head, so grouped-query gradients are summed in
/// registers and written once, with no atomics. Per query tile it recomputes S = Q·Kᵀ, P from the forward's
/// log-sum-exp, dP = dO·Vᵀ and dS (<see cref="BackwardTiles"/> has the formulas and the layout), then dV += Pdᵀ·dO
/// and dK += dSᵀ·Q; unless dQ has its own deterministic pass (<see cref="QueryGradientKernel{T, TCodec, TSlice, TShared, TTile, TModifier}"/>),
/// the tile's dQ part dS·K is added atomically to an fp32 accumulator. Query tiles the mask hides are never
/// loaded: under the band low ≤ j − i ≤ high they are the band i − j ∈ [−high, −low] seen from the keys; under a
/// block-sparse mask, its work list by key block. Keys past the sequence's valid length get zero gradients.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
/// <typeparam name="TSlice">The thread's slice of dK, dV (and of a tile's dQ): ⌈HeadDim / B⌉ chunks.</typeparam>
/// <typeparam name="TShared">Where the tiles live.</typeparam>
/// <typeparam name="TTile">The tile geometry (B = BlockM = 4·ThreadsX).</typeparam>
/// <typeparam name="TModifier">Softcap, ALiBi, bias and dropout, or nothing.</typeparam>
internal static class KeyValueGradientKernel<T, TCodec, TSlice, TShared, TTile, TModifier>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
    where TSlice : struct, IOutputSlice
    where TShared : struct, ISharedTiles
    where TTile : struct, ITileShape
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (key block, sequence · key/value head), (B/4)² threads.</summary>
    public static void Run(BackwardParams<T> bp)
    {
        var p = bp.Attention;
        TileGeometry g = default(TTile).Resolve(p.Geometry);
        var tiles = new BackwardTiles(g);
        ArrayView<Float4> shared = default(TShared).Block();
        int thread = Group.IdxX;
        int tx = thread % g.ThreadsX;
        int ty = thread / g.ThreadsX;
        int b = g.BlockM;

        var keyBlock = KeyBlock.OfGroup(p, bp.KeyBlocks, b);
        if (keyBlock.IsEmpty)
            return;
        var keys = keyBlock.Keys;
        int keyStart = keyBlock.KeyStart, ownedKeys = keyBlock.OwnedKeys;

        tiles.LoadKeys<T, TCodec>(p, keys, keyStart, shared, thread);
        bool keysStraddleEnd = keyStart + b > keys.KeyLength;

        TSlice gradKey = default, gradValue = default;
        for (int h = 0; h < p.HeadsPerKeyValue; h++)
        {
            var block = QueryBlock.Of(p, keyBlock.Sequence, keyBlock.FirstHead + h, 0, b, 0);
            TModifier modifier = default(TModifier).For(p, block, 0.693147180559945309f);
            var queryTiles = KeyTileRange.QueriesFor(p, block, bp.KeyBlocks, keyBlock.Index, keyStart, b);
            for (int step = 0; step < queryTiles.Count; step++)
            {
                int rowStart = queryTiles.TileAt(p.TileList, step) * b;
                Group.Barrier(); // the previous tile's readers are done
                tiles.LoadQueries<T, TCodec>(bp, block, rowStart, shared, thread);
                Group.Barrier();

                bool partial = keysStraddleEnd || queryTiles.IsPartial(rowStart / b, b, block.QueryLength);
                tiles.ScoreGradients(p, block, modifier, shared, rowStart, keyStart, partial, queryTiles.IsMaskedAt(p.TileList, step),
                    ty, tx, out Tile4x4 probabilities, out Tile4x4 gradScores);
                tiles.StoreRows(shared, tiles.ProbabilityOffset4, probabilities, ty, tx);
                tiles.StoreRows(shared, tiles.GradScoreOffset4, gradScores, ty, tx);
                if (bp.GradQueryAccumulator.Length > 0)
                    tiles.StoreColumns(shared, tiles.GradScoreTransposedOffset4, gradScores, ty, tx);
                Group.Barrier();

                // Here ty indexes keys: rows 4ty.. of dK and dV.
                tiles.Accumulate(ref gradValue, shared, tiles.ProbabilityOffset4, tiles.GradOutputOffset4, ty, tx);
                tiles.Accumulate(ref gradKey, shared, tiles.GradScoreOffset4, tiles.QueryOffset4, ty, tx);
                if (bp.GradQueryAccumulator.Length > 0)
                {
                    // And here queries: rows 4ty.. of this tile's dQ part.
                    TSlice gradQuery = default;
                    tiles.Accumulate(ref gradQuery, shared, tiles.GradScoreTransposedOffset4, tiles.KeyOffset4, ty, tx);
                    int row = rowStart + 4 * ty;
                    gradQuery.AtomicAdd(bp.GradQueryAccumulator, (block.RowIndex + row) * g.HeadDim, g.HeadDim, block.QueryLength - row,
                        4 * tx, 4 * g.ThreadsX, g.HeadDim, 1f);
                }
            }
        }

        int keyRow = keyStart + 4 * ty;
        int origin = keys.KeyOrigin + keyRow * p.KeyStrides.Row;
        gradKey.Store<T, TCodec>(bp.GradKey, origin, p.KeyStrides.Row, ownedKeys - keyRow, 4 * tx, 4 * g.ThreadsX, g.HeadDim, Float4.Broadcast(bp.Scale));
        gradValue.Store<T, TCodec>(bp.GradValue, origin, p.KeyStrides.Row, ownedKeys - keyRow, 4 * tx, 4 * g.ThreadsX, g.HeadDim, Float4.Broadcast(1f));
    }
}
