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
/// Shared memory (rows padded by 16 bytes):  K V [B][d]   Q dO [B][d]   lse, D [B] (fp32)
///
/// prologue     cp.async K, V of the key block
/// query tile   cp.async Q, dO; lse (base 2, +∞ for rows without keys) and D; barrier
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
        tiles.LoadKeys(parameters, keys, keyStart, shared, thread);
        CpAsync.Commit();

        // This lane's ldmatrix row addresses: A operands of the warp's 16 rows (keys of K and V), B operands not
        // transposed (Q, dO as the columns of Sᵀ, dPᵀ), B operands transposed (dO, Q with k along their rows).
        uint rowsA = LaneAddresses.RowsA(warpRow, lane, pitch);
        uint columnsB = LaneAddresses.ColumnsB(lane, pitch);
        uint rowsTransposedB = LaneAddresses.RowsTransposedB(lane, pitch);
        uint sixteenRows = 16 * pitch;

        TGradients gradKey = default, gradValue = default;
        for (int h = 0; h < p.HeadsPerKeyValue; h++)
        {
            var block = QueryBlock.Of(p, keyBlock.Sequence, keyBlock.FirstHead + h, 0, b, 0);
            // Scores here are raw q·k: logits divided by the scale.
            TModifier modifier = default(TModifier).For(p, block, p.ScaleLog2 * 0.693147180559945309f);
            var queryTiles = KeyTileRange.QueriesFor(p, block, bp.KeyBlocks, keyBlock.Index, keyStart, b);
            for (int step = 0; step < queryTiles.Count; step++)
            {
                int rowStart = queryTiles.TileAt(p.TileList, step) * b;
                Group.Barrier(); // the previous tile's readers of Q, dO and the statistics are done
                tiles.LoadQueries(parameters, block, rowStart, shared, thread);
                CpAsync.Commit();
                if (thread < b)
                {
                    bool inside = rowStart + thread < block.QueryLength;
                    int row = inside ? block.RowIndex + rowStart + thread : 0;
                    statistics[tiles.LogSumExpIndex + thread] = SoftmaxMath.ProbabilityOffset(p.LogSumExp[row], inside);
                    statistics[tiles.DeltaIndex + thread] = inside ? bp.Delta[row] : 0f;
                }
                CpAsync.WaitAll();
                Group.Barrier();

                TScores scores = default;
                uint keyRows = (uint)tiles.KeyOffset + rowsA, valueRows = (uint)tiles.ValueOffset + rowsA;
                uint queryColumns = (uint)tiles.QueryOffset + columnsB, gradOutputColumns = (uint)tiles.GradOutputOffset + columnsB;
                for (int feature = 0; feature < g.HeadDim; feature += 16)
                {
                    scores.Accumulate<TElement>(gradients: false, LdMatrix.X4(shared, keyRows), shared, queryColumns, sixteenRows);
                    scores.Accumulate<TElement>(gradients: true, LdMatrix.X4(shared, valueRows), shared, gradOutputColumns, sixteenRows);
                    keyRows += 32;
                    valueRows += 32;
                    queryColumns += 32;
                    gradOutputColumns += 32;
                }
                int key = keyStart + warpRow + lane / 4;
                if (!modifier.IsIdentity)
                    scores.Modify(modifier.ForTile(queryTiles.IsMaskedAt(p.TileList, step)), rowStart + 2 * (lane & 3), key, transposed: true);
                if (keyStart + b > block.KeyLength || queryTiles.IsPartial(rowStart / b, b, block.QueryLength))
                {
                    int column = rowStart + 2 * (lane & 3);
                    scores.Hide(column - key, -block.DiagonalHigh, -block.DiagonalLow, block.QueryLength - column);
                }
                scores.SoftmaxGradient(modifier, statistics.SubView(tiles.LogSumExpIndex), statistics.SubView(tiles.DeltaIndex), 2 * (lane & 3),
                    block.RowIndex + rowStart, key, p.ScaleLog2);
                scores.MultiplyInto<TElement, TGradients>(gradients: false, ref gradValue, shared, (uint)tiles.GradOutputOffset + rowsTransposedB, sixteenRows, 32);
                scores.MultiplyInto<TElement, TGradients>(gradients: true, ref gradKey, shared, (uint)tiles.QueryOffset + rowsTransposedB, sixteenRows, 32);
            }
        }
        CpAsync.WaitAll();

        int keyRow = keyStart + warpRow + lane / 4;
        int origin = keys.KeyOrigin + keyRow * p.KeyStrides.Row + 2 * (lane & 3);
        gradKey.Store(new PackedPairs<TElement>(bp.GradKey.Cast<uint>()), origin, p.KeyStrides.Row, ownedKeys - keyRow, RowValues.Broadcast(bp.Scale));
        gradValue.Store(new PackedPairs<TElement>(bp.GradValue.Cast<uint>()), origin, p.KeyStrides.Row, ownedKeys - keyRow, RowValues.Broadcast(1f));
    }
}

/// <summary>
/// Where the tensor-core backward's tiles live in shared memory (byte offsets; the statistics as float indices), and
/// how its row tiles are filled (<c>cp.async</c>, zeros past a sequence's rows; the caller commits).
/// </summary>
internal readonly struct TensorCoreBackwardTiles(TensorCoreGeometry g)
{
    /// <summary>Starts the copies of B query rows of <paramref name="block"/>'s sequence and head from <paramref name="rowStart"/>: Q and dO.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadQueries(in TensorCoreBackwardParams parameters, in QueryBlock block, int rowStart, SharedBlock shared, int thread)
    {
        var p = parameters.Backward.Attention;
        TensorCoreRows.Load(shared, (uint)QueryOffset, p.Query, parameters.QueryAddress, block.QueryOrigin, TensorStrides.Even(p.QueryStrides.Row),
            rowStart, block.QueryLength, g.BlockN, g, thread);
        TensorCoreRows.Load(shared, (uint)GradOutputOffset, parameters.Backward.GradOutput, parameters.GradOutputAddress, block.QueryOrigin,
            TensorStrides.Even(p.QueryStrides.Row), rowStart, block.QueryLength, g.BlockN, g, thread);
    }

    /// <summary>Starts the copies of B keys of <paramref name="block"/>'s sequence from <paramref name="keyStart"/>: K and V.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadKeys(in TensorCoreBackwardParams parameters, in QueryBlock block, int keyStart, SharedBlock shared, int thread)
    {
        var p = parameters.Backward.Attention;
        TensorCoreRows.Load(shared, (uint)KeyOffset, p.Key, parameters.KeyAddress, block.KeyOrigin, TensorStrides.Even(p.KeyStrides.Row),
            keyStart, block.KeyLength, g.BlockN, g, thread);
        TensorCoreRows.Load(shared, (uint)ValueOffset, p.Value, parameters.ValueAddress, block.KeyOrigin, TensorStrides.Even(p.KeyStrides.Row),
            keyStart, block.KeyLength, g.BlockN, g, thread);
    }

    public int KeyOffset => 0;

    public int ValueOffset => g.TileBytes;

    public int QueryOffset => 2 * g.TileBytes;

    public int GradOutputOffset => 3 * g.TileBytes;

    public int LogSumExpIndex => g.TileBytes;

    public int DeltaIndex => LogSumExpIndex + g.BlockN;

    /// <summary>Shared memory a group.</summary>
    public int SharedBytes => 4 * (DeltaIndex + g.BlockN);
}
