using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;
using TinyFlash.Kernels.Shared;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The portable fused attention forward pass (FlashAttention-2's loop order), one kernel body for every backend,
/// storage type and head dimension.
/// <code>
/// Group g owns BlockM query rows of one (batch, head) and streams the visible key tiles past them:
///
///            keys →  tile t (BlockN = 4·ThreadsX)
///   Qᵀ [d][BlockM]   Kᵀ [d][BlockN]        S = Q·Kᵀ  [BlockM][BlockN]   thread (ty, tx) holds the 4×4 block
///   (scaled, base 2)                       rows 4ty..4ty+3 × keys 4tx..4tx+3 in registers
///
///   V  [BlockN][d]   Pᵀ [BlockN][BlockM]   O += P·V  [BlockM][d]         thread (ty, tx) holds rows 4ty..4ty+3 ×
///                                                                          features 4(tx + c·ThreadsX)..+3, c &lt; chunks
/// </code>
/// With key splits (flash-decoding) a group visits one share of the block's tiles and writes fp32 partial rows with
/// their log-sum-exp for <see cref="SplitCombineKernel{T, TCodec}"/>. Per tile: load Kᵀ and V (zero past the last key), S = Qᵀ·Kᵀ from shared memory, mask only if the tile straddles
/// the mask edge, row maxima through shared memory (no warp shuffles, so any warp size and OpenCL work), online
/// softmax in fp32 (O rescaled only where a row maximum moved), P through shared memory, O += P·V. Q is scaled by
/// scale·log2(e) once on load so the exponential is <c>ex2</c>. Tiles the mask hides are never loaded. Rows share
/// threads in the same pattern in both products, so each thread keeps its rows' running max and partial sum
/// in registers and only the final sum is reduced. Q and K are stored transposed and padded by 4 floats per row
/// so every 16-byte shared access of a warp is conflict-free; Pᵀ reuses Kᵀ's space when it fits (Kᵀ is dead once
/// the row-maximum barrier has passed). The geometry (<see cref="TileGeometry"/>) is a compile-time constant on CUDA
/// and the CPU, so sizes, pitches and offsets fold and shared loads take immediate offsets.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
/// <typeparam name="TOutput">The thread's output slice: its chunk count is ⌈HeadDim / (4·ThreadsX)⌉.</typeparam>
/// <typeparam name="TShared">Where the tiles live: dynamic shared memory, or a static block on OpenCL.</typeparam>
/// <typeparam name="TTile">The tile geometry: compile-time constants (every size, pitch and offset folds), or runtime values on OpenCL.</typeparam>
/// <typeparam name="TModifier">Softcap, ALiBi and bias, or nothing (<see cref="NoScoreModifier"/>: the plain kernel).</typeparam>
internal static class FlashForwardKernel<T, TCodec, TOutput, TShared, TTile, TModifier>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
    where TOutput : struct, IOutputSlice
    where TShared : struct, ISharedTiles
    where TTile : struct, ITileShape
    where TModifier : struct, IScoreModifier<TModifier>
{
    /// <summary>Entry point: one group per (query block, batch·head), <see cref="TileGeometry.Threads"/> threads.</summary>
    public static void Run(AttentionParams<T> p)
    {
        TileGeometry g = default(TTile).Resolve(p.Geometry);
        ArrayView<Float4> shared = default(TShared).Block();
        ArrayView<Float4> queryTile = shared.SubView(0);
        ArrayView<Float4> keyTile = shared.SubView(g.KeyOffset4);
        ArrayView<Float4> valueTile = shared.SubView(g.ValueOffset4);
        ArrayView<Float4> probabilityTile = shared.SubView(g.ProbabilityOffset4);
        ArrayView<Float4> partials = shared.SubView(g.PartialOffset4);

        int thread = Group.IdxX;
        int tx = thread % g.ThreadsX;
        int ty = thread / g.ThreadsX;

        var block = QueryBlock.OfGroup(p, g.BlockM);
        if (block.IsEmpty)
            return;
        int rowStart = block.RowStart, rowEnd = block.RowEnd;
        // Scores here are logits·log2(e) (Q was scaled on load).
        TModifier modifier = default(TModifier).For(p, block, 0.693147180559945309f);

        LoadTransposed(p.Query, block.QueryOrigin, p.QueryStrides, rowStart, block.QueryLength, g.BlockM,
            g.HeadDim, p.ScaleLog2, queryTile, g.RowPitch4, thread, g.Threads);
        ZeroFeaturePadding(valueTile, g, g.HeadDim / 4, thread);
        var tiles = KeyTileRange.For(p, block, g.BlockM, g.BlockN);

        TOutput output = default;
        Float4 rowMax = Float4.Broadcast(float.NegativeInfinity);
        Float4 rowSum = default;
        for (int step = 0; step < tiles.Count; step++)
        {
            int tile = tiles.TileAt(p.TileList, step);
            int keyStart = tile * g.BlockN;
            Group.Barrier(); // the previous tile's readers are done with Kᵀ, V, Pᵀ and the partials
            LoadTransposed(p.Key, block.KeyOrigin, TensorStrides.Even(p.KeyStrides.Row), keyStart, block.KeyLength, g.BlockN,
                g.HeadDim, 1f, keyTile, g.KeyPitch4, thread, g.Threads);
            LoadRows(p.Value, block.KeyOrigin, p.KeyStrides.Row, keyStart, block.KeyLength, g.BlockN,
                g.HeadDim / 4, valueTile, g.ValuePitch4, thread, g.Threads);
            Group.Barrier();

            Tile4x4 scores = QueryKeyProduct(queryTile, keyTile, g, ty, tx);
            if (!modifier.IsIdentity)
                scores.Modify(modifier.ForTile(tiles.IsMaskedAt(p.TileList, step)), rowStart + 4 * ty, keyStart + 4 * tx);
            if (tiles.IsPartial(tile, g.BlockN, block.KeyLength))
                BandMask.HideInvisible(ref scores, RowDiagonals.Of(p.QueryStrides, keyStart + 4 * tx, rowStart + 4 * ty, 1), block.DiagonalLow, block.DiagonalHigh,
                    block.KeyLength - (keyStart + 4 * tx));

            partials[tx * g.RowPitch4 + ty] = scores.RowMax();
            Group.Barrier();
            Float4 tileMax = partials[ty];
            for (int t = 1; t < g.ThreadsX; t++)
                tileMax = tileMax.Max(partials[t * g.RowPitch4 + ty]);

            // Online softmax: a row that has seen no visible key keeps max −∞; exponentiating against 0 instead
            // keeps its probabilities and correction at exactly 0 rather than NaN.
            Float4 newMax = rowMax.Max(tileMax);
            Float4 reference = FiniteOrZero(newMax);
            Float4 correction = rowMax.Exp2Minus(reference);
            scores.Exp2Subtract(reference);
            rowSum = rowSum.Multiply(correction).Add(scores.RowSum());
            if (!correction.AllOne())
                output.ScaleRows(correction);
            rowMax = newMax;
            if (modifier.Drops) // dropout after the statistics: the sum and log-sum-exp are those of the undropped row
                scores.Drop(modifier, block.RowIndex + rowStart + 4 * ty, rowStart + 4 * ty, keyStart + 4 * tx);

            int column = 4 * tx * g.RowPitch4 + ty;
            probabilityTile[column] = scores.Column0();
            probabilityTile[column + g.RowPitch4] = scores.Column1();
            probabilityTile[column + 2 * g.RowPitch4] = scores.Column2();
            probabilityTile[column + 3 * g.RowPitch4] = scores.Column3();
            Group.Barrier();

            AccumulateProbabilityValue(ref output, probabilityTile, valueTile, g, ty, tx);
        }

        Group.Barrier();
        partials[tx * g.RowPitch4 + ty] = rowSum;
        Group.Barrier();
        Float4 total = partials[ty];
        for (int t = 1; t < g.ThreadsX; t++)
            total = total.Add(partials[t * g.RowPitch4 + ty]);

        int row = rowStart + 4 * ty;
        if (p.SplitOutput.Length > 0) // key splits, or packed query rows the output does not space evenly
        {
            int splitRow = (block.RowIndex + row) * p.KeySplits + block.Split;
            output.Store<float, Float32Codec>(p.SplitOutput, splitRow * g.HeadDim, p.KeySplits * g.HeadDim, rowEnd - row,
                4 * tx, 4 * g.ThreadsX, g.HeadDim, Reciprocal(total));
            if (tx == 0)
                StoreLogSumExp(p.SplitLogSumExp, splitRow, p.KeySplits, rowEnd - row, rowMax, total);
            return;
        }
        output.Store<T, TCodec>(p.Output, block.QueryOrigin + row * p.QueryStrides.Row, p.QueryStrides.Row, rowEnd - row,
            4 * tx, 4 * g.ThreadsX, g.HeadDim, Reciprocal(total));
        if (tx == 0 && p.LogSumExp.Length > 0)
            StoreLogSumExp(p.LogSumExp, block.RowIndex + row, 1, rowEnd - row, rowMax, total);
    }

    /// <summary>
    /// Loads <paramref name="rows"/> rows × <paramref name="headDim"/> features starting at <paramref name="firstRow"/>
    /// into a transposed tile [feature][row], times <paramref name="scale"/>, zero past <paramref name="rowLimit"/>.
    /// Each thread reads one feature of four consecutive rows (coalesced along features) and stores one 16-byte
    /// column slice. Row r starts at <paramref name="origin"/> + <paramref name="strides"/>.RowOffset(r).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadTransposed(ArrayView<T> source, int origin, TensorStrides strides, int firstRow, int rowLimit,
        int rows, int headDim, float scale, ArrayView<Float4> tile, int pitch4, int thread, int threads)
    {
        int count = rows / 4 * headDim;
        int feature = thread % headDim;
        int quad = thread / headDim;
        int featureStep = threads % headDim;
        int quadStep = threads / headDim;
        for (int element = thread; element < count; element += threads)
        {
            int row = firstRow + 4 * quad;
            int index = origin + feature;
            var values = new Float4(
                LoadOrZero(source, index + strides.RowOffset(row), origin, row < rowLimit),
                LoadOrZero(source, index + strides.RowOffset(row + 1), origin, row + 1 < rowLimit),
                LoadOrZero(source, index + strides.RowOffset(row + 2), origin, row + 2 < rowLimit),
                LoadOrZero(source, index + strides.RowOffset(row + 3), origin, row + 3 < rowLimit));
            tile[feature * pitch4 + quad] = values.Multiply(scale);
            feature += featureStep;
            quad += quadStep;
            if (feature >= headDim)
            {
                feature -= headDim;
                quad++;
            }
        }
    }

    /// <summary>
    /// Loads <paramref name="rows"/> rows × <paramref name="featureQuads"/>·4 features into a row-major tile, zero
    /// past <paramref name="rowLimit"/>; each thread moves four consecutive features.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadRows(ArrayView<T> source, int origin, int rowStride, int firstRow, int rowLimit,
        int rows, int featureQuads, ArrayView<Float4> tile, int pitch4, int thread, int threads)
    {
        int count = rows * featureQuads;
        int quad = thread % featureQuads;
        int row = thread / featureQuads;
        int quadStep = threads % featureQuads;
        int rowStep = threads / featureQuads;
        for (int element = thread; element < count; element += threads)
        {
            bool inside = firstRow + row < rowLimit;
            int index = origin + (firstRow + row) * rowStride + 4 * quad;
            tile[row * pitch4 + quad] = new Float4(
                LoadOrZero(source, index, origin, inside),
                LoadOrZero(source, index + 1, origin, inside),
                LoadOrZero(source, index + 2, origin, inside),
                LoadOrZero(source, index + 3, origin, inside));
            quad += quadStep;
            row += rowStep;
            if (quad >= featureQuads)
            {
                quad -= featureQuads;
                row++;
            }
        }
    }

    /// <summary>
    /// The element at <paramref name="index"/> as float, or 0 where it lies outside the tensor. The load itself is
    /// unconditional (from <paramref name="fallback"/>, a valid index, when outside) so that a thread's loads issue
    /// back to back instead of one branch at a time; a select, not a multiply, zeroes, so inf or NaN in the
    /// tensor cannot leak into padding.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float LoadOrZero(ArrayView<T> source, int index, int fallback, bool inside)
    {
        float value = default(TCodec).ToFloat(source[inside ? index : fallback]);
        return inside ? value : 0f;
    }

    /// <summary>Zeroes the feature columns of V past the head dimension, which the last output chunk may read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ZeroFeaturePadding(ArrayView<Float4> valueTile, TileGeometry g, int featureQuads, int thread)
    {
        int padding = g.ValuePitch4 - featureQuads;
        // A compile-time constant: without padding the loop (and its division by zero, which OpenCL C would be
        // free to treat as unreachable code) is not generated at all.
        if (padding == 0)
            return;
        for (int element = thread; element < g.BlockN * padding; element += g.Threads)
            valueTile[element / padding * g.ValuePitch4 + featureQuads + element % padding] = default;
    }

    /// <summary>
    /// The thread's 4×4 block of S = Q·Kᵀ, reading 16 bytes of Qᵀ and of Kᵀ per feature. Software-pipelined by
    /// hand (ILGPU does not unroll): each step's operands are loaded two steps before they are used, across the
    /// loop's back edge, so shared-memory latency hides behind 32 FMAs; the last four features are peeled off.
    /// The loop walks two sub-views so every load is a base pointer plus a loop-invariant offset.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Tile4x4 QueryKeyProduct(ArrayView<Float4> queryTile, ArrayView<Float4> keyTile, TileGeometry g, int ty, int tx)
    {
        int headDim = g.HeadDim;
        int queryPitch4 = g.RowPitch4, keyPitch4 = g.KeyPitch4;
        Tile4x4 scores = default;
        ArrayView<Float4> query = queryTile.SubView(ty);
        ArrayView<Float4> key = keyTile.SubView(tx);
        Float4 query0 = query[0], key0 = key[0];
        Float4 query1 = query[queryPitch4], key1 = key[keyPitch4];
        for (int feature = 4; feature < headDim; feature += 4)
        {
            Float4 query2 = query[2 * queryPitch4], key2 = key[2 * keyPitch4];
            scores.AddOuterProduct(query0, key0);
            Float4 query3 = query[3 * queryPitch4], key3 = key[3 * keyPitch4];
            scores.AddOuterProduct(query1, key1);
            query = query.SubView(4 * queryPitch4);
            key = key.SubView(4 * keyPitch4);
            query0 = query[0];
            key0 = key[0];
            scores.AddOuterProduct(query2, key2);
            query1 = query[queryPitch4];
            key1 = key[keyPitch4];
            scores.AddOuterProduct(query3, key3);
        }
        scores.AddOuterProduct(query0, key0);
        scores.AddOuterProduct(query1, key1);
        scores.AddOuterProduct(query[2 * queryPitch4], key[2 * keyPitch4]);
        scores.AddOuterProduct(query[3 * queryPitch4], key[3 * keyPitch4]);
        return scores;
    }

    /// <summary>O += P·V for the thread's slice, four keys an iteration (BlockN is a multiple of 8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AccumulateProbabilityValue(ref TOutput output, ArrayView<Float4> probabilityTile,
        ArrayView<Float4> valueTile, TileGeometry g, int ty, int tx)
    {
        ArrayView<Float4> probability = probabilityTile.SubView(ty);
        ArrayView<Float4> value = valueTile.SubView(tx);
        int p = g.RowPitch4, v = g.ValuePitch4, stride = g.ThreadsX;
        for (int key = 0; key < g.BlockN; key += 4)
        {
            output.AddProducts(probability[0], value, 0, stride);
            output.AddProducts(probability[p], value, v, stride);
            output.AddProducts(probability[2 * p], value, 2 * v, stride);
            output.AddProducts(probability[3 * p], value, 3 * v, stride);
            probability = probability.SubView(4 * p);
            value = value.SubView(4 * v);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Float4 FiniteOrZero(Float4 x) => new(
        x.X == float.NegativeInfinity ? 0f : x.X,
        x.Y == float.NegativeInfinity ? 0f : x.Y,
        x.Z == float.NegativeInfinity ? 0f : x.Z,
        x.W == float.NegativeInfinity ? 0f : x.W);

    /// <summary>1/sum, or 0 for a row that saw no key, so that its output is zeros.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Float4 Reciprocal(Float4 sum) => new(
        sum.X > 0f ? 1f / sum.X : 0f,
        sum.Y > 0f ? 1f / sum.Y : 0f,
        sum.Z > 0f ? 1f / sum.Z : 0f,
        sum.W > 0f ? 1f / sum.W : 0f);

    /// <summary>
    /// Writes ln Σ exp(scores) = max·ln 2 + ln(sum) for the valid rows, <paramref name="rowStride"/> apart; −∞ where
    /// no key was visible.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreLogSumExp(ArrayView<float> logSumExp, int index, int rowStride, int rowsValid, Float4 max, Float4 sum)
    {
        if (rowsValid > 0)
            logSumExp[index] = SoftmaxMath.LogSumExp(max.X, sum.X);
        if (rowsValid > 1)
            logSumExp[index + rowStride] = SoftmaxMath.LogSumExp(max.Y, sum.Y);
        if (rowsValid > 2)
            logSumExp[index + 2 * rowStride] = SoftmaxMath.LogSumExp(max.Z, sum.Z);
        if (rowsValid > 3)
            logSumExp[index + 3 * rowStride] = SoftmaxMath.LogSumExp(max.W, sum.W);
    }
}
