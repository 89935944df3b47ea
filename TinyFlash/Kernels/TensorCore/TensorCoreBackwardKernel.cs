using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Backward;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Fragments;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The backward's key-block kernel on tensor cores for fp16 and bf16 (FlashAttention-2's backward on <c>mma.sync</c>
/// m16n8k16, fp32 accumulators); the same loop as <see cref="KeyValueGradientKernel{T, TCodec, TSlice, TShared, TTile, TModifier}"/>.
/// <code>
/// Group: W warps, B = 16·W keys (warp w owns keys 16w … 16w+15 of dK, dV) and query tiles of B rows.
/// Shared memory (rows padded by 16 bytes):  K V [B][d]   Q dO [B][d] a stage   lse, D [B] (fp32) a stage
///
/// prologue     cp.async K, V of the key block; with two stages, query tile 0
/// query tile   wait for its cp.async Q, dO; lse (base 2, +∞ for rows without keys) and D to shared; barrier; with
///              two stages, cp.async the next tile into the other stage (its lse, D into registers)  ← overlaps below
///              Sᵀ  = K·Qᵀ      per 16 features: ldmatrix K (A) once, per 16 queries ldmatrix Q (B), mma
///              dPᵀ = V·dOᵀ     likewise                                           (rows keys, columns queries)
///              modifiers (ALiBi, bias) on Sᵀ; mask Sᵀ only if the tile straddles the mask edge
///              Pᵀ = 2^(Sᵀ·scale·log2 e − lse),  dSᵀ = Pᵀ∘(dPᵀ∘Z − D), Pᵀ ← Pᵀ∘Z   per column, in registers (Z: dropout)
///              dV += Pᵀ·dO,  dK += dSᵀ·Q   Pᵀ, dSᵀ repacked to 16 bits as A operands (C and A layouts coincide),
///                                          per 16 queries × 16 features: ldmatrix.trans dO / Q (B), mma
/// epilogue     dK·scale, dV → 16-bit pairs; zeros for keys past the sequence's length
/// </code>
/// dQ is <see cref="TensorCoreQueryGradientKernel{TElement, TScores, TGradients, TShape, TModifier}"/>'s, a pass of its own
/// (as fast as fp32 atomics from here or faster on the H200, docs/backward.md, and deterministic).
/// Registers hold every tile through trees of 16-column blocks (<see cref="IScoreGradientBlocks"/>,
/// <see cref="IColumnBlocks"/>); all PTX is in <see cref="Instructions"/>, whose twins run this kernel on the CPU
/// accelerator in the tests. ALiBi, a bias, a block-sparse mask's element mask and dropout apply as in the portable
/// kernel (the modifier sees Sᵀ through <see cref="TransposedScoreModifier{TModifier}"/>; dropout's words are drawn
/// row-major and the kept bits exchanged within the quad, see <see cref="MmaTile"/>); a softcap's chain rule is not
/// here: those calls run the portable kernels.
/// </summary>
/// <typeparam name="TElement">fp16 or bf16.</typeparam>
/// <typeparam name="TScores">B/16 blocks of Sᵀ and dPᵀ.</typeparam>
/// <typeparam name="TGradients">HeadDim/16 column blocks of one 16-row tile (dK, dV).</typeparam>
/// <typeparam name="TShape">The geometry as constants: W warps, one row tile, BlockN = 16·W, the head dim.</typeparam>
/// <typeparam name="TModifier">ALiBi, bias and dropout, or nothing (<see cref="NoScoreModifier"/>).</typeparam>
internal static class TensorCoreBackwardKernel<TElement, TScores, TGradients, TShape, TModifier>
    where TElement : struct, ITensorElement
    where TScores : struct, IScoreGradientBlocks
    where TGradients : struct, IColumnBlocks
    where TShape : struct, ITensorCoreShape
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (key block, sequence · key/value head), 32·W threads.</summary>
    public static void Run(TensorCoreBackwardParams parameters)
    {
        BackwardParams<ushort> bp = parameters.Backward;
        AttentionParams<ushort> p = bp.Attention;
        TensorCoreGeometry g = default(TShape).Geometry;
        var tiles = new TensorCoreBackwardTiles(g);
        SharedBlock shared = SharedBlock.Dynamic();
        ArrayView<float> statistics = shared.View.Cast<float>();
        int thread = Group.IdxX;
        int lane = Warp.LaneIdx;
        int warpRow = GroupThreads.Warp * 16;
        int b = g.BlockN;
        uint pitch = (uint)g.PitchBytes;

        var keyBlock = KeyBlock.OfGroup(p, bp.KeyBlocks, b);
        if (keyBlock.IsEmpty)
            return;
        var keys = keyBlock.Keys;
        int keyStart = keyBlock.KeyStart, ownedKeys = keyBlock.OwnedKeys;
        tiles.LoadKeys(parameters, keys, keyStart, shared, tiles.Resident, thread);
        CpAsync.Commit();

        // This lane's ldmatrix row addresses: A operands of the warp's 16 rows (keys of K and V), B operands not
        // transposed (Q, dO as the columns of Sᵀ, dPᵀ), B operands transposed (dO, Q with k along their rows).
        uint rowsA = LaneAddresses.RowsA(warpRow, lane, pitch);
        uint columnsB = LaneAddresses.ColumnsB(lane, pitch);
        uint rowsTransposedB = LaneAddresses.RowsTransposedB(lane, pitch);
        uint sixteenRows = 16 * pitch;

        TGradients gradKey = default, gradValue = default;
        float valueScale = 1f; // dropout's 1/(1 − p), the same for every head
        for (int h = 0; h < p.HeadsPerKeyValue; h++)
        {
            var block = QueryBlock.Of(p, keyBlock.Sequence, keyBlock.FirstHead + h, 0, b, 0);
            // Scores here are raw q·k: logits divided by the scale.
            TModifier modifier = default(TModifier).For(p, block, p.ScaleLog2 * 0.693147180559945309f);
            valueScale = modifier.KeepScale;
            var queryTiles = KeyTileRange.QueriesFor(p, block, bp.KeyBlocks, keyBlock.Index, keyStart, b);
            // A tile's copies are waited for at the top of its step; with two stages the next tile's start after that
            // wait, so they overlap this tile's math. A tile's statistics wait in registers until its step.
            Group.Barrier(); // the previous head's readers of the streamed stages are done
            PendingStatistics pending = default;
            if (g.Stages == 2 && queryTiles.Count > 0)
                pending = StartQueryTile(parameters, tiles, block, queryTiles.TileAt(p.TileList, 0) * b, 0, shared, thread);
            CpAsync.Commit();
            for (int step = 0; step < queryTiles.Count; step++)
            {
                int stage = g.Stages == 2 ? step & 1 : 0;
                int rowStart = queryTiles.TileAt(p.TileList, step) * b;
                if (g.Stages == 1)
                {
                    Group.Barrier(); // the previous tile's readers of Q, dO and the statistics are done
                    pending = StartQueryTile(parameters, tiles, block, rowStart, 0, shared, thread);
                    CpAsync.Commit();
                }
                CpAsync.WaitAll();
                if (thread < b)
                    pending.Store(statistics, tiles.LogSumExpIndex(stage), tiles.DeltaIndex(stage), rowStart + thread < block.QueryLength, thread);
                Group.Barrier(); // this tile is in; with two stages, the other stage's readers (the previous tile) are done
                if (g.Stages == 2)
                {
                    if (step + 1 < queryTiles.Count)
                        pending = StartQueryTile(parameters, tiles, block, queryTiles.TileAt(p.TileList, step + 1) * b, 1 - stage, shared, thread);
                    CpAsync.Commit();
                }

                int queries = tiles.Streamed(stage), gradOutputs = queries + tiles.Second;
                TScores scores = default;
                int key = keyStart + warpRow + lane / 4;
                if (modifier.Drops)
                    KeepDraws.Draw(ref scores, modifier, block.RowIndex + rowStart + 2 * (lane & 3), key, transposed: true);
                uint keyRows = (uint)tiles.Resident + rowsA, valueRows = (uint)(tiles.Resident + tiles.Second) + rowsA;
                uint queryColumns = (uint)queries + columnsB, gradOutputColumns = (uint)gradOutputs + columnsB;
                for (int feature = 0; feature < g.HeadDim; feature += 16)
                {
                    scores.Accumulate<TElement>(gradients: false, LdMatrix.X4(shared, keyRows), shared, queryColumns, sixteenRows);
                    scores.Accumulate<TElement>(gradients: true, LdMatrix.X4(shared, valueRows), shared, gradOutputColumns, sixteenRows);
                    keyRows += 32;
                    valueRows += 32;
                    queryColumns += 32;
                    gradOutputColumns += 32;
                }
                if (!modifier.IsIdentity)
                    scores.Modify(modifier.ForTile(queryTiles.IsMaskedAt(p.TileList, step)), rowStart + 2 * (lane & 3), key, transposed: true);
                if (keyStart + b > block.KeyLength || queryTiles.IsPartial(rowStart / b, b, block.QueryLength))
                {
                    int column = rowStart + 2 * (lane & 3);
                    scores.Hide(column - key, -block.DiagonalHigh, -block.DiagonalLow, block.QueryLength - column);
                }
                scores.SoftmaxGradient(modifier, statistics.SubView(tiles.LogSumExpIndex(stage)), statistics.SubView(tiles.DeltaIndex(stage)), 2 * (lane & 3),
                    p.ScaleLog2);
                scores.MultiplyInto<TElement, TGradients>(gradients: false, dropped: modifier.Drops, ref gradValue, shared, (uint)gradOutputs + rowsTransposedB, sixteenRows, 32);
                scores.MultiplyInto<TElement, TGradients>(gradients: true, dropped: false, ref gradKey, shared, (uint)queries + rowsTransposedB, sixteenRows, 32);
            }
        }
        CpAsync.WaitAll();

        KeyGradients.Store<TElement, TGradients>(bp, keys, keyStart + warpRow + lane / 4, ownedKeys, gradKey, gradValue, valueScale);
    }

    /// <summary>
    /// Starts the query tile from <paramref name="rowStart"/> into <paramref name="stage"/>: Q and dO by <c>cp.async</c>
    /// (the caller commits), and for threads below B the log-sum-exp and D of row <paramref name="rowStart"/> + thread,
    /// loaded into registers (stored only when the tile is due, so that their latency hides behind a tile's math).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static PendingStatistics StartQueryTile(in TensorCoreBackwardParams parameters, in TensorCoreBackwardTiles tiles, in QueryBlock block,
        int rowStart, int stage, SharedBlock shared, int thread)
    {
        tiles.LoadQueries(parameters, block, rowStart, shared, tiles.Streamed(stage), thread);
        return PendingStatistics.Read(parameters.Backward, block, rowStart, default(TShape).Geometry.BlockN, thread);
    }
}

/// <summary>
/// Where the tensor-core backward's tiles live in shared memory (byte offsets; the statistics as float indices), and
/// how its row tiles are filled (<c>cp.async</c>, zeros past a sequence's rows; the caller commits). Both passes keep
/// one pair of B-row tiles resident (K, V in the key-block pass; Q, dO in the dq pass) and stream the other pair
/// through <see cref="TensorCoreGeometry.Stages"/> stages (1 or 2: with 2 the next tile loads during this one's math):
/// <code>
/// resident pair [2][B][d]   streamed pair, stage 0 [2][B][d]   stage 1 …   lse, D of stage 0 [2][B] (fp32)   stage 1 …
/// </code>
/// </summary>
internal readonly struct TensorCoreBackwardTiles(TensorCoreGeometry g)
{
    /// <summary>Starts the copies of B query rows of <paramref name="block"/>'s sequence and head from <paramref name="rowStart"/>: Q at byte <paramref name="offset"/>, dO one tile further.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadQueries(in TensorCoreBackwardParams parameters, in QueryBlock block, int rowStart, SharedBlock shared, int offset, int thread)
    {
        var p = parameters.Backward.Attention;
        TensorCoreRows.Load(shared, (uint)offset, p.Query, parameters.QueryAddress, block.QueryOrigin, TensorStrides.Even(p.QueryStrides.Row),
            rowStart, block.QueryLength, g.BlockN, g, thread);
        TensorCoreRows.Load(shared, (uint)(offset + g.TileBytes), parameters.Backward.GradOutput, parameters.GradOutputAddress, block.QueryOrigin,
            TensorStrides.Even(p.QueryStrides.Row), rowStart, block.QueryLength, g.BlockN, g, thread);
    }

    /// <summary>Starts the copies of B keys of <paramref name="block"/>'s sequence from <paramref name="keyStart"/>: K at byte <paramref name="offset"/>, V one tile further.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadKeys(in TensorCoreBackwardParams parameters, in QueryBlock block, int keyStart, SharedBlock shared, int offset, int thread)
    {
        var p = parameters.Backward.Attention;
        TensorCoreRows.Load(shared, (uint)offset, p.Key, parameters.KeyAddress, block.KeyOrigin, TensorStrides.Even(p.KeyStrides.Row),
            keyStart, block.KeyLength, g.BlockN, g, thread);
        TensorCoreRows.Load(shared, (uint)(offset + g.TileBytes), p.Value, parameters.ValueAddress, block.KeyOrigin, TensorStrides.Even(p.KeyStrides.Row),
            keyStart, block.KeyLength, g.BlockN, g, thread);
    }

    /// <summary>The resident pair's first tile (its second is one tile further).</summary>
    public int Resident => 0;

    /// <summary>The streamed pair's first tile in stage <paramref name="stage"/>.</summary>
    public int Streamed(int stage) => (2 + 2 * stage) * g.TileBytes;

    /// <summary>Bytes between the streamed pair's two tiles, and between the resident pair's.</summary>
    public int Second => g.TileBytes;

    /// <summary>The log-sum-exp of stage <paramref name="stage"/>'s query rows (the key-block pass), as a float index.</summary>
    public int LogSumExpIndex(int stage) => Streamed(g.Stages) / 4 + 2 * g.BlockN * stage;

    /// <summary>D of stage <paramref name="stage"/>'s query rows.</summary>
    public int DeltaIndex(int stage) => LogSumExpIndex(stage) + g.BlockN;

    /// <summary>Shared memory a group.</summary>
    public int SharedBytes => 4 * LogSumExpIndex(g.Stages);
}

/// <summary>One query row's log-sum-exp and D, loaded when its tile's copies start and stored to shared memory when the tile is due.</summary>
internal readonly struct PendingStatistics(float logSumExp, float delta)
{
    private readonly float logSumExp = logSumExp, delta = delta;

    /// <summary>
    /// For threads below <paramref name="rows"/>, the log-sum-exp and D of query row <paramref name="rowStart"/> + thread
    /// of <paramref name="block"/> (zeros past its rows and for the other threads).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PendingStatistics Read(in BackwardParams<ushort> bp, in QueryBlock block, int rowStart, int rows, int thread)
    {
        bool reads = thread < rows & rowStart + thread < block.QueryLength;
        int row = reads ? block.RowIndex + rowStart + thread : 0;
        return new PendingStatistics(reads ? bp.Attention.LogSumExp[row] : 0f, reads ? bp.Delta[row] : 0f);
    }

    /// <summary>
    /// Stores them for row <paramref name="thread"/> of a tile whose statistics start at float indices
    /// <paramref name="logSumExpIndex"/> and <paramref name="deltaIndex"/>: the log-sum-exp in base 2 (+∞ unless
    /// <paramref name="inside"/>: P is 0 there), and D.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(ArrayView<float> statistics, int logSumExpIndex, int deltaIndex, bool inside, int thread)
    {
        statistics[logSumExpIndex + thread] = SoftmaxMath.ProbabilityOffset(logSumExp, inside);
        statistics[deltaIndex + thread] = delta;
    }
}

/// <summary>The key-block passes' epilogue: a lane's rows of dK·scale and dV as 16-bit pairs, zeros for keys past the sequence's length.</summary>
internal static class KeyGradients
{
    /// <summary>
    /// Stores this lane's rows of <paramref name="gradKey"/> (times the scale) and <paramref name="gradValue"/> (times
    /// <paramref name="valueScale"/>, dropout's 1/(1 − p), which the masked Pᵀ left out): row g of
    /// its 16 is key <paramref name="keyRow"/> of <paramref name="keys"/>' sequence, of which <paramref name="ownedKeys"/>
    /// rows are the sequence's to write.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<TElement, TGradients>(in BackwardParams<ushort> bp, in QueryBlock keys, int keyRow, int ownedKeys, in TGradients gradKey,
        in TGradients gradValue, float valueScale)
        where TElement : struct, ITensorElement
        where TGradients : struct, IColumnBlocks
    {
        var p = bp.Attention;
        int origin = keys.KeyOrigin + keyRow * p.KeyStrides.Row + 2 * (Warp.LaneIdx & 3);
        gradKey.Store(new PackedPairs<TElement>(bp.GradKey.Cast<uint>()), origin, p.KeyStrides.Row, ownedKeys - keyRow, RowValues.Broadcast(bp.Scale));
        gradValue.Store(new PackedPairs<TElement>(bp.GradValue.Cast<uint>()), origin, p.KeyStrides.Row, ownedKeys - keyRow, RowValues.Broadcast(valueScale));
    }
}
