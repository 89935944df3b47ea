using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Backward;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The backward's key-block pass on Hopper's warpgroup products (<c>wgmma.mma_async</c>, sm_90a) for fp16 and bf16,
/// fp32 accumulators: <see cref="TensorCoreBackwardKernel{TElement, TScores, TGradients, TShape, TModifier}"/>'s loop with
/// a warpgroup where that kernel has four warps, and the same registers (warp v still owns keys 16v … 16v + 15 of Sᵀ,
/// dPᵀ, dK and dV), so its masks, score modifiers, softmax gradient and stores are that kernel's.
/// <code>
/// Group: one warpgroup, B = 64 keys (dK, dV), query tiles of 64 rows, head dim d (64 or 128).
/// Shared memory from a 1024-byte boundary, every tile in swizzled 64-feature panels (SwizzledRows):
///        K V [64][d]   Q₀ dO₀ [64][d]   Q₁ dO₁   lse, D [64] (fp32) of stage 0, of stage 1
///
/// prologue     cp.async K, V and query tile 0 → stage 0
/// query tile   wait for its copies and for the last tile's products (they read the other stage); lse (base 2, +∞ for
///              rows without keys) and D to shared; publish the copies to the async proxy; barrier; cp.async the next
///              tile → the other stage                                                   ← lands during this tile
///              Sᵀ  = K·Qᵀ    per 16 features one wgmma m64n64k16, K (A) and Q (B) K-major from shared memory
///              dPᵀ = V·dOᵀ   likewise; commit; dropout's kept bits (Philox, indices only) while they run; wait
///              modifiers, mask (only if the tile straddles the mask edge), Pᵀ = 2^(Sᵀ·scale·log2 e − lse),
///              dSᵀ = Pᵀ∘(dPᵀ∘Z − D), Pᵀ ← Pᵀ∘Z        per column, in registers (Z: dropout)
///              dV += Pᵀ·dO,  dK += dSᵀ·Q   per 16 queries Pᵀ, dSᵀ repacked to 16 bits as A operands in registers, one
///                                          wgmma m64n64k16 per 64 features, dO and Q read MN-major; commit (they run
///                                          on while the next tile is awaited)
/// epilogue     wait; dK·scale, dV → 16-bit pairs; zeros for keys past the sequence's length
/// </code>
/// dQ is <see cref="WarpGroupQueryGradientKernel{TElement, TGradients, THeadDim, TModifier}"/>'s. All PTX is in
/// <see cref="Instructions"/>, whose twins (<see cref="WarpGroupEmulation"/>) run this kernel on the CPU accelerator in
/// the tests.
/// </summary>
/// <typeparam name="TElement">fp16 or bf16.</typeparam>
/// <typeparam name="TGradients">HeadDim/64 leaves (dK, dV).</typeparam>
/// <typeparam name="THeadDim">The head dim, 64 or 128.</typeparam>
/// <typeparam name="TModifier">ALiBi, bias and dropout, or nothing (<see cref="NoScoreModifier"/>).</typeparam>
internal static class WarpGroupBackwardKernel<TElement, TGradients, THeadDim, TModifier>
    where TElement : struct, ITensorElement
    where TGradients : struct, IWarpGroupBlocks
    where THeadDim : struct, Shared.IConstant
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (key block, sequence · key/value head), <see cref="WarpGroupBackwardTiles.Threads"/> threads.</summary>
    public static void Run(TensorCoreBackwardParams parameters)
    {
        BackwardParams<ushort> bp = parameters.Backward;
        AttentionParams<ushort> p = bp.Attention;
        const int b = WarpGroupBackwardTiles.Block;
        int headDim = default(THeadDim).Value;
        var tiles = new WarpGroupBackwardTiles(headDim, SharedBlock.Dynamic());
        SharedBlock shared = tiles.Shared;
        ArrayView<float> statistics = shared.View.Cast<float>();
        int thread = Group.IdxX;
        int lane = Warp.LaneIdx;
        int warpRow = GroupThreads.Warp * 16;

        var keyBlock = KeyBlock.OfGroup(p, bp.KeyBlocks, b);
        if (keyBlock.IsEmpty)
            return;
        var keys = keyBlock.Keys;
        int keyStart = keyBlock.KeyStart, ownedKeys = keyBlock.OwnedKeys;
        tiles.LoadKeys(parameters, keys, keyStart, tiles.Resident, thread);
        CpAsync.Commit();

        TGradients gradKey = default, gradValue = default;
        float valueScale = 1f; // dropout's 1/(1 − p), the same for every head
        for (int h = 0; h < p.HeadsPerKeyValue; h++)
        {
            var block = QueryBlock.Of(p, keyBlock.Sequence, keyBlock.FirstHead + h, 0, b, 0);
            // Scores here are raw q·k: logits divided by the scale.
            TModifier modifier = default(TModifier).For(p, block, p.ScaleLog2 * 0.693147180559945309f);
            valueScale = modifier.KeepScale;
            var queryTiles = KeyTileRange.QueriesFor(p, block, bp.KeyBlocks, keyBlock.Index, keyStart, b);
            WarpGroupMma.Wait();
            Group.Barrier(); // the previous head's products and readers of the streamed stages are done
            PendingStatistics pending = default;
            if (queryTiles.Count > 0)
                pending = StartQueryTile(parameters, tiles, block, queryTiles.TileAt(p.TileList, 0) * b, 0, thread);
            CpAsync.Commit();
            for (int step = 0; step < queryTiles.Count; step++)
            {
                int stage = step & 1;
                int rowStart = queryTiles.TileAt(p.TileList, step) * b;
                CpAsync.WaitAll();
                if (thread < b)
                    pending.Store(statistics, tiles.LogSumExpIndex(stage), tiles.DeltaIndex(stage), rowStart + thread < block.QueryLength, thread);
                WarpGroupMma.Wait();
                WarpGroupMma.PublishSharedWrites();
                Group.Barrier(); // this tile is in; the other stage's readers (the last tile's products) are done
                if (step + 1 < queryTiles.Count)
                    pending = StartQueryTile(parameters, tiles, block, queryTiles.TileAt(p.TileList, step + 1) * b, 1 - stage, thread);
                CpAsync.Commit();

                WarpGroupScoreGradients scores = default;
                uint queries = tiles.Streamed(stage), gradOutputs = queries + (uint)tiles.TileBytes;
                WarpGroupMma.Fence();
                scores.Multiply<TElement>(gradients: false, shared, tiles.KMajor(tiles.Resident), tiles.KMajor(queries), headDim, WarpGroupBackwardTiles.PanelBytes);
                scores.Multiply<TElement>(gradients: true, shared, tiles.KMajor(tiles.Resident + (uint)tiles.TileBytes), tiles.KMajor(gradOutputs), headDim,
                    WarpGroupBackwardTiles.PanelBytes);
                WarpGroupMma.Commit();
                int key = keyStart + warpRow + lane / 4;
                if (modifier.Drops) // while the products run
                    scores.DrawKeep(modifier, block.RowIndex + rowStart + 2 * (lane & 3), key, transposed: true);
                WarpGroupMma.Wait();

                if (!modifier.IsIdentity)
                    scores.Modify(modifier.ForTile(queryTiles.IsMaskedAt(p.TileList, step)), rowStart + 2 * (lane & 3), key, transposed: true);
                if (keyStart + b > block.KeyLength || queryTiles.IsPartial(rowStart / b, b, block.QueryLength))
                {
                    int column = rowStart + 2 * (lane & 3);
                    scores.Hide(column - key, -block.DiagonalHigh, -block.DiagonalLow, block.QueryLength - column);
                }
                scores.SoftmaxGradient(modifier, statistics.SubView(tiles.LogSumExpIndex(stage)), statistics.SubView(tiles.DeltaIndex(stage)), 2 * (lane & 3),
                    p.ScaleLog2);
                scores.MultiplyInto<TElement, TGradients>(gradients: false, dropped: modifier.Drops, ref gradValue, shared, tiles.MNMajor(gradOutputs), WarpGroupBackwardTiles.SixteenRows,
                    WarpGroupBackwardTiles.PanelBytes);
                scores.MultiplyInto<TElement, TGradients>(gradients: true, dropped: false, ref gradKey, shared, tiles.MNMajor(queries), WarpGroupBackwardTiles.SixteenRows,
                    WarpGroupBackwardTiles.PanelBytes);
                WarpGroupMma.Commit();
            }
        }
        WarpGroupMma.Wait();
        CpAsync.WaitAll();

        KeyGradients.Store<TElement, TGradients>(bp, keys, keyStart + warpRow + lane / 4, ownedKeys, gradKey, gradValue, valueScale);
    }

    /// <summary>
    /// Starts the query tile from <paramref name="rowStart"/> into <paramref name="stage"/>: Q and dO by <c>cp.async</c>
    /// (the caller commits), and for threads below B the log-sum-exp and D of row <paramref name="rowStart"/> + thread,
    /// loaded into registers and stored when the tile is due.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static PendingStatistics StartQueryTile(in TensorCoreBackwardParams parameters, in WarpGroupBackwardTiles tiles, in QueryBlock block,
        int rowStart, int stage, int thread)
    {
        tiles.LoadQueries(parameters, block, rowStart, tiles.Streamed(stage), thread);
        return PendingStatistics.Read(parameters.Backward, block, rowStart, WarpGroupBackwardTiles.Block, thread);
    }
}

/// <summary>
/// Where the warpgroup backward passes keep their tiles in shared memory (from the block's first 1024-byte boundary,
/// <see cref="WarpGroupGeometry.AlignedStart"/>), how they are filled (swizzled, <c>cp.async</c>, zeros past a
/// sequence's rows; the caller commits) and the descriptors the products read them by. Both passes keep one pair of
/// tiles resident (K, V in the key-block pass; Q, dO in the dq pass) and stream the other pair through two stages:
/// <code>
/// resident pair [2][B][d]   streamed pair, stage 0 [2][B][d]   stage 1   lse₀ D₀ lse₁ D₁ [B] (fp32, the key-block pass)   (B = 64)
/// </code>
/// A tile is read K-major (features contiguous: the A and B operands of S and dP) or MN-major (the B operand of dV, dK
/// and dQ, whose k runs along its rows), its 64-feature panels <see cref="PanelBytes"/> apart either way.
/// </summary>
internal readonly struct WarpGroupBackwardTiles
{
    /// <summary>Rows of every tile (keys of a key block, query rows of a query tile); threads a group (one warpgroup).</summary>
    public const int Block = 64, Threads = 128;

    /// <summary>Bytes between a tile's 64-feature panels, and between its 16-row steps.</summary>
    public const uint PanelBytes = Block * WarpGroupMma.RowBytes, SixteenRows = 16 * WarpGroupMma.RowBytes;

    public readonly SharedBlock Shared;
    private readonly int headDim;
    private readonly uint start;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WarpGroupBackwardTiles(int headDim, SharedBlock shared)
    {
        this.headDim = headDim;
        Shared = shared;
        start = WarpGroupGeometry.AlignedStart(shared);
    }

    /// <summary>Bytes of one tile.</summary>
    public int TileBytes => 2 * Block * headDim;

    /// <summary>The resident pair's first tile (its second is <see cref="TileBytes"/> further).</summary>
    public uint Resident => start;

    /// <summary>The streamed pair's first tile in <paramref name="stage"/>.</summary>
    public uint Streamed(int stage) => start + (uint)((2 + 2 * stage) * TileBytes);

    /// <summary>Shared memory a group at head dim <paramref name="headDim"/>: the tiles, the statistics and the alignment slack.</summary>
    public static int SharedBytes(int headDim) => 6 * 2 * Block * headDim + 4 * 4 * Block + (int)WarpGroupMma.SwizzleBytes;

    /// <summary>The log-sum-exp of stage <paramref name="stage"/>'s query rows (the key-block pass), as a float index.</summary>
    public int LogSumExpIndex(int stage) => (int)(start + 6 * TileBytes) / 4 + 2 * Block * stage;

    /// <summary>D of stage <paramref name="stage"/>'s query rows.</summary>
    public int DeltaIndex(int stage) => LogSumExpIndex(stage) + Block;

    /// <summary>The tile at byte <paramref name="offset"/> read K-major.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong KMajor(uint offset) => WarpGroupMma.Descriptor(Shared.Address + offset, 0, WarpGroupMma.SwizzleBytes);

    /// <summary>The tile at byte <paramref name="offset"/> read MN-major.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong MNMajor(uint offset) => WarpGroupMma.Descriptor(Shared.Address + offset, PanelBytes, WarpGroupMma.SwizzleBytes);

    /// <summary>Starts the copies of B keys of <paramref name="block"/>'s sequence from <paramref name="keyStart"/>: K at byte <paramref name="offset"/>, V one tile further.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadKeys(in TensorCoreBackwardParams parameters, in QueryBlock block, int keyStart, uint offset, int thread)
    {
        var p = parameters.Backward.Attention;
        var strides = TensorStrides.Even(p.KeyStrides.Row);
        TensorCoreRows.LoadSwizzled(Shared, offset, p.Key, parameters.KeyAddress, block.KeyOrigin, strides, keyStart, block.KeyLength, Block, headDim,
            Threads, thread);
        TensorCoreRows.LoadSwizzled(Shared, offset + (uint)TileBytes, p.Value, parameters.ValueAddress, block.KeyOrigin, strides, keyStart, block.KeyLength,
            Block, headDim, Threads, thread);
    }

    /// <summary>Starts the copies of B query rows of <paramref name="block"/>'s sequence and head from <paramref name="rowStart"/>: Q at byte <paramref name="offset"/>, dO one tile further.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadQueries(in TensorCoreBackwardParams parameters, in QueryBlock block, int rowStart, uint offset, int thread)
    {
        var p = parameters.Backward.Attention;
        var strides = TensorStrides.Even(p.QueryStrides.Row);
        TensorCoreRows.LoadSwizzled(Shared, offset, p.Query, parameters.QueryAddress, block.QueryOrigin, strides, rowStart, block.QueryLength, Block,
            headDim, Threads, thread);
        TensorCoreRows.LoadSwizzled(Shared, offset + (uint)TileBytes, parameters.Backward.GradOutput, parameters.GradOutputAddress, block.QueryOrigin,
            strides, rowStart, block.QueryLength, Block, headDim, Threads, thread);
    }
}
