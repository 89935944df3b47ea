using ILGPU;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;
using TinyFlash.Kernels.Shared;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// dQ without atomics (the deterministic mode): group g owns B query rows of one (sequence, head), as in the forward
/// pass, keeps Q, dO and the rows' statistics in shared memory and dQ in registers, and streams past them the same
/// key tiles the forward visits, recomputing S, P, dP and dS (<see cref="BackwardTiles"/>) to add dS·K. Every dQ
/// element is summed by one thread in one order, so results are bit-identical from run to run; the price is S and
/// dP computed a second time (7 tile products per pair instead of 5).
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
/// <typeparam name="TSlice">The thread's slice of dQ.</typeparam>
/// <typeparam name="TShared">Where the tiles live.</typeparam>
/// <typeparam name="TTile">The tile geometry (B = BlockM = 4·ThreadsX).</typeparam>
/// <typeparam name="TModifier">Softcap, ALiBi, bias and dropout, or nothing.</typeparam>
internal static class QueryGradientKernel<T, TCodec, TSlice, TShared, TTile, TModifier>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
    where TSlice : struct, IOutputSlice
    where TShared : struct, ISharedTiles
    where TTile : struct, ITileShape
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (query block, sequence · head), (B/4)² threads.</summary>
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

        var block = QueryBlock.OfGroup(p, b);
        if (block.IsEmpty)
            return;
        int rowStart = block.RowStart;
        TModifier modifier = default(TModifier).For(p, block, 0.693147180559945309f);
        tiles.LoadQueries<T, TCodec>(bp, block, rowStart, shared, thread);

        var keyTiles = KeyTileRange.For(p, block, b, b);
        TSlice gradQuery = default;
        for (int step = 0; step < keyTiles.Count; step++)
        {
            int tile = keyTiles.TileAt(p.TileList, step);
            int keyStart = tile * b;
            Group.Barrier(); // the previous tile's readers are done
            tiles.LoadKeys<T, TCodec>(p, block, keyStart, shared, thread);
            Group.Barrier();

            tiles.ScoreGradients(p, block, modifier, shared, rowStart, keyStart, keyTiles.IsPartial(tile, b, block.KeyLength),
                keyTiles.IsMaskedAt(p.TileList, step), ty, tx, out _, out Tile4x4 gradScores);
            tiles.StoreColumns(shared, tiles.GradScoreTransposedOffset4, gradScores, ty, tx);
            Group.Barrier();
            tiles.Accumulate(ref gradQuery, shared, tiles.GradScoreTransposedOffset4, tiles.KeyOffset4, ty, tx);
        }

        int row = rowStart + 4 * ty;
        gradQuery.Store<T, TCodec>(bp.GradQuery, block.QueryOrigin + row * p.QueryStrides.Row, p.QueryStrides.Row, block.RowEnd - row,
            4 * tx, 4 * g.ThreadsX, g.HeadDim, Float4.Broadcast(bp.Scale));
    }
}
