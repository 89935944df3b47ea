using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The forward pass on Hopper's warpgroup products (<c>wgmma.mma_async</c>, sm_90a) for fp16 and bf16, fp32 accumulators:
/// FlashAttention-2's split over query rows, with a warpgroup where the <c>mma.sync</c> kernel has a warp.
/// <code>
/// Group: W warpgroups (warpgroup w owns query rows 64w … +64, its warp v rows 64w + 16v … +16); key tiles of BlockN (a
///        multiple of 64), head dim d (a multiple of 64), S pipeline stages.
/// Shared memory from a 1024-byte boundary, every tile in swizzled 64-feature panels (SwizzledRows):
///        Q [BlockM][d]   K₀ V₀ [BlockN][d]   …   K_{S−1} V_{S−1}
///
/// prologue   cp.async Q and tile 0 → stage 0, tiles 1 … S−2 → stages 1 … S−2 (one commit group a tile)
/// tile i     wait for my copies of tile i and for my warpgroup's last O += P·V (it read stage i−1's V); publish the
///            copies to the async proxy; barrier (tile i landed everywhere, stage (i−1) mod S free)
///            S  = Q·Kᵀ   per 16 features: one wgmma m64n64k16 per 64 keys, Q and K from shared memory (K-major);
///                        commit
///            cp.async tile i+S−1 → stage (i−1) mod S, while S = Q·Kᵀ runs        ← lands during the next S−1 tiles
///            dropout's kept bits from Philox (indices only), while S = Q·Kᵀ runs: TileSoftmax.DrawKeep
///            wait                                                                         S in registers
///            mask, online softmax: TileSoftmax.Step (the mma.sync kernel's own, same registers)
///            O += P·V    per 16 keys: P repacked to 16 bits in registers as the A operand (the accumulator and A
///                        layouts coincide; dropout's mask ANDed in, 1/(1 − p) left to the epilogue), one wgmma m64n64k16 per 64 features, V from shared memory read
///                        transposed (MN-major); commit — it runs on while the next tile's copies are awaited
/// epilogue   wait; O / l → 16-bit pairs, log-sum-exp (or fp32 partials for key splits): TileSoftmax.Store
/// </code>
/// S and O live in <typeparamref name="TScores"/>
/// and <typeparamref name="TOutput"/>, trees of 64-column leaves (<see cref="IWarpGroupBlocks"/>). All PTX is in
/// <see cref="Instructions"/>, whose twins (<see cref="WarpGroupEmulation"/>) run this same kernel on ILGPU's CPU
/// accelerator in the tests.
/// </summary>
/// <typeparam name="TElement">fp16 or bf16.</typeparam>
/// <typeparam name="TScores">BlockN/64 leaves.</typeparam>
/// <typeparam name="TOutput">HeadDim/64 leaves.</typeparam>
/// <typeparam name="TShape">The geometry as constants.</typeparam>
/// <typeparam name="TModifier">Softcap, ALiBi, bias and dropout, or nothing (<see cref="NoScoreModifier"/>).</typeparam>
internal static class WarpGroupForwardKernel<TElement, TScores, TOutput, TShape, TModifier>
    where TElement : struct, ITensorElement
    where TScores : struct, IWarpGroupBlocks
    where TOutput : struct, IWarpGroupBlocks
    where TShape : struct, IWarpGroupShape
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (query block, batch·head), <see cref="WarpGroupGeometry.Threads"/> threads.</summary>
    public static void Run(TensorCoreParams parameters)
    {
        AttentionParams<ushort> p = parameters.Attention;
        WarpGroupGeometry g = default(TShape).Geometry;
        var state = new TileState(p, g, SharedBlock.Dynamic());
        if (state.Block.IsEmpty)
            return;

        TensorCoreRows.LoadSwizzled(state.Shared, state.Start, p.Query, parameters.QueryAddress, state.Block.QueryOrigin, p.QueryStrides,
            state.Block.RowStart, state.Block.QueryLength, g.BlockM, g.HeadDim, g.Threads, Group.IdxX);
        // One commit group a tile, empty past the last, so that waiting for all but the newest S − 2 always means "this
        // step's tile has landed".
        for (int tile = 0; tile < g.Stages - 1; tile++)
        {
            if (tile < state.Tiles.Count)
                LoadKeysValues(parameters, state, tile, tile);
            CpAsync.Commit();
        }

        TOutput output = default;
        RowValues max = RowValues.Broadcast(float.NegativeInfinity);
        RowValues sums = default;
        int stage = 0, freed = g.Stages - 1;
        for (int step = 0; step < state.Tiles.Count; step++)
        {
            CpAsync.WaitPending(g.Stages - 2);
            WarpGroupMma.Wait();
            WarpGroupMma.PublishSharedWrites();
            Group.Barrier();

            TScores scores = default;
            Scores(ref scores, state, stage);
            WarpGroupMma.Commit();
            // The copies of tile step + S − 1 into the stage tile step − 1 has left, issued while S = Q·Kᵀ runs.
            int load = step + g.Stages - 1;
            if (load < state.Tiles.Count)
                LoadKeysValues(parameters, state, freed, load);
            CpAsync.Commit();
            TileSoftmax.DrawKeep(ref scores, p, state.Block, state.Tiles, state.Modifier, step, g.BlockN, state.WarpRow, Warp.LaneIdx);
            WarpGroupMma.Wait();
            TileSoftmax.Step(ref scores, ref output, ref max, ref sums, p, state.Block, state.Tiles, state.Modifier, step, g.BlockN,
                state.WarpRow, Warp.LaneIdx);
            // O += P·V: 16 keys (16 rows of 128 bytes in every panel) a product; it runs on while the next tile is awaited.
            ulong values = WarpGroupMma.Advance(state.Values, (uint)(stage * 2 * g.TileBytes));
            scores.WarpGroupMultiplyInto<TElement, TOutput>(state.Modifier.Drops, ref output, state.Shared, values, 16 * WarpGroupMma.RowBytes,
                (uint)g.BlockN * WarpGroupMma.RowBytes);
            WarpGroupMma.Commit();
            freed = stage;
            stage = stage == g.Stages - 1 ? 0 : stage + 1;
        }
        WarpGroupMma.Wait();
        CpAsync.WaitAll();
        TileSoftmax.Store<TElement, TOutput>(output, max, sums, p, state.Block, g.HeadDim, 1, state.WarpRow, Warp.LaneIdx, state.Modifier.KeepScale);
    }

    /// <summary>
    /// Issues S = Q·Kᵀ for the key tile in <paramref name="stage"/>: a panel's four 16-feature steps at a time (32 bytes
    /// apart along its rows), the first panel's first step overwriting S, so that S needs no zeroing. The panels are
    /// spelled out, not looped over: a loop (which ILGPU keeps even where it runs once) makes ptxas fence the chain at
    /// its head (C7519) and wait for the products before the key/value copies that should overlap them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores(ref TScores scores, in TileState state, int stage)
    {
        ulong k = WarpGroupMma.Advance(state.Keys, (uint)(stage * 2 * state.Geometry.TileBytes));
        WarpGroupMma.Fence();
        scores.WarpGroupAccumulate<TElement>(state.Shared, state.Query, k, 64 * WarpGroupMma.RowBytes, accumulate: false);
        PanelSteps(ref scores, state, k, panel: 0, first: 1);
        PanelSteps(ref scores, state, k, panel: 1, first: 0);
        PanelSteps(ref scores, state, k, panel: 2, first: 0);
        PanelSteps(ref scores, state, k, panel: 3, first: 0);
    }

    /// <summary>
    /// Accumulates the 16-feature steps <paramref name="first"/> … 3 of 64-feature panel <paramref name="panel"/> into S,
    /// where the head dim has that panel (a constant of the kernel, so the test folds away).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PanelSteps(ref TScores scores, in TileState state, ulong keys, int panel, int first)
    {
        var g = state.Geometry;
        if (panel >= g.HeadDim / 64)
            return;
        uint leaf = 64 * WarpGroupMma.RowBytes;
        ulong q = WarpGroupMma.Advance(state.Query, (uint)(panel * g.BlockM) * WarpGroupMma.RowBytes);
        ulong k = WarpGroupMma.Advance(keys, (uint)(panel * g.BlockN) * WarpGroupMma.RowBytes);
        if (first == 0)
            scores.WarpGroupAccumulate<TElement>(state.Shared, q, k, leaf, accumulate: true);
        scores.WarpGroupAccumulate<TElement>(state.Shared, WarpGroupMma.Advance(q, 32), WarpGroupMma.Advance(k, 32), leaf, accumulate: true);
        scores.WarpGroupAccumulate<TElement>(state.Shared, WarpGroupMma.Advance(q, 64), WarpGroupMma.Advance(k, 64), leaf, accumulate: true);
        scores.WarpGroupAccumulate<TElement>(state.Shared, WarpGroupMma.Advance(q, 96), WarpGroupMma.Advance(k, 96), leaf, accumulate: true);
    }

    /// <summary>Starts this thread's copies of key/value tile <paramref name="step"/> (of the block's list) into pipeline stage <paramref name="stage"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadKeysValues(in TensorCoreParams parameters, in TileState state, int stage, int step)
    {
        var g = state.Geometry;
        AttentionParams<ushort> p = parameters.Attention;
        int keyStart = state.Tiles.TileAt(p.TileList, step) * g.BlockN;
        var strides = TensorStrides.Even(p.KeyStrides.Row);
        TensorCoreRows.LoadSwizzled(state.Shared, state.Start + (uint)g.KeyOffset(stage), p.Key, parameters.KeyAddress, state.Block.KeyOrigin,
            strides, keyStart, state.Block.KeyLength, g.BlockN, g.HeadDim, g.Threads, Group.IdxX);
        TensorCoreRows.LoadSwizzled(state.Shared, state.Start + (uint)g.ValueOffset(stage), p.Value, parameters.ValueAddress, state.Block.KeyOrigin,
            strides, keyStart, state.Block.KeyLength, g.BlockN, g.HeadDim, g.Threads, Group.IdxX);
    }

    /// <summary>
    /// What every step of a group reads: its block, key tiles and score modifier, and the shared-memory descriptors of
    /// this warpgroup's 64 query rows (8-row groups 1024 bytes apart in a panel) and of stage 0's key and value tiles (a
    /// value tile is read MN-major, its 64-feature panels BlockN rows apart).
    /// </summary>
    private readonly struct TileState
    {
        public readonly WarpGroupGeometry Geometry;
        public readonly SharedBlock Shared;
        public readonly uint Start;
        public readonly QueryBlock Block;
        public readonly KeyTileRange Tiles;
        public readonly TModifier Modifier;
        public readonly ulong Query, Keys, Values;
        public readonly int WarpRow;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TileState(in AttentionParams<ushort> p, WarpGroupGeometry g, SharedBlock shared)
        {
            Geometry = g;
            Shared = shared;
            Start = WarpGroupGeometry.AlignedStart(shared);
            Block = QueryBlock.OfGroup(p, g.BlockM);
            Tiles = KeyTileRange.For(p, Block, g.BlockM, g.BlockN);
            // Scores here are raw q·k: logits divided by the scale.
            Modifier = default(TModifier).For(p, Block, p.ScaleLog2 * 0.693147180559945309f);
            WarpRow = GroupThreads.Warp * 16;
            uint origin = shared.Address + Start;
            Query = WarpGroupMma.Descriptor(origin + (uint)(GroupThreads.WarpGroup * 64) * WarpGroupMma.RowBytes, 0, WarpGroupMma.SwizzleBytes);
            Keys = WarpGroupMma.Descriptor(origin + (uint)g.KeyOffset(0), 0, WarpGroupMma.SwizzleBytes);
            Values = WarpGroupMma.Descriptor(origin + (uint)g.ValueOffset(0), (uint)g.BlockN * WarpGroupMma.RowBytes, WarpGroupMma.SwizzleBytes);
        }
    }
}
