using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Fragments;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// What the tensor-core forward kernels (<c>mma.sync</c> and warpgroup) do between their products and after the last:
/// mask and modify a key tile's scores, one step of the online softmax, and the epilogue. Both hold a warp's rows as
/// the same fragments, so this is written once. Lane (g = lane / 4, t = lane % 4) holds rows g, g + 8 (and g + 16,
/// g + 24 with two row tiles) from the warp's first row <c>warpRow</c> of the block.
/// </summary>
internal static class TileSoftmax
{
    /// <summary>
    /// Turns the raw scores (q·k, the logits divided by the scale) of key tile <paramref name="step"/> into probabilities:
    /// modifiers (softcap, ALiBi, bias, a block mask's element mask), the band mask only where the tile straddles it,
    /// then in base 2 the new row maxima, O and the row sums rescaled only where a maximum moved (a row that has seen no
    /// visible key keeps max −∞ and exponentiates against 0). Dropout is not applied here: the P·V product ANDs its mask
    /// into the 16-bit P (<see cref="IColumnBlocks.MultiplyInto"/>, the kept bits drawn beforehand by <see cref="DrawKeep"/>)
    /// and <see cref="Store"/> scales by 1/(1 − p), so the log-sum-exp is that of the undropped row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Step<TScores, TOutput, TModifier>(ref TScores scores, ref TOutput output, ref RowValues max, ref RowValues sums,
        in AttentionParams<ushort> p, in QueryBlock block, in KeyTileRange tiles, TModifier modifier, int step, int blockN, int warpRow, int lane)
        where TScores : struct, IColumnBlocks
        where TOutput : struct, IColumnBlocks
        where TModifier : struct, IScoreModifier<TModifier>
    {
        int tile = tiles.TileAt(p.TileList, step);
        int row = block.RowStart + warpRow + lane / 4;
        int column = tile * blockN + 2 * (lane & 3);
        if (!modifier.IsIdentity)
            scores.Modify(modifier.ForTile(tiles.IsMaskedAt(p.TileList, step)), row, column);
        if (tiles.IsPartial(tile, blockN, block.KeyLength))
            scores.Hide(RowDiagonals.Of(p.QueryStrides, column, row, 8), block.DiagonalLow, block.DiagonalHigh, block.KeyLength - column);

        RowValues tileMax = RowValues.Broadcast(float.NegativeInfinity);
        scores.RowMax(ref tileMax);
        RowValues newMax = max.Max(tileMax.QuadMax());
        RowValues offsets = newMax.FiniteOrZero().Multiply(p.ScaleLog2);
        if (!newMax.SameAs(max))
        {
            RowValues correction = max.Exp2(p.ScaleLog2, offsets);
            sums = sums.Multiply(correction);
            output.ScaleRows(correction);
            max = newMax;
        }
        scores.Exponentiate(p.ScaleLog2, offsets, ref sums);
    }

    /// <summary>
    /// Draws dropout's kept bits of key tile <paramref name="step"/> into <paramref name="scores"/> (nothing without
    /// dropout): indices only, so the kernels call it while the products that fill the scores run, and
    /// <see cref="Step"/> applies them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DrawKeep<TScores, TModifier>(ref TScores scores, in AttentionParams<ushort> p, in QueryBlock block, in KeyTileRange tiles,
        TModifier modifier, int step, int blockN, int warpRow, int lane)
        where TScores : struct, IColumnBlocks
        where TModifier : struct, IScoreModifier<TModifier>
    {
        if (!modifier.Drops)
            return;
        int row = block.RowStart + warpRow + lane / 4;
        KeepDraws.Draw(ref scores, modifier, block.RowIndex + row, tiles.TileAt(p.TileList, step) * blockN + 2 * (lane & 3));
    }

    /// <summary>
    /// The epilogue: O / l (0 for rows that saw no key) as 16-bit pairs in the output, with the log-sum-exp if asked; or,
    /// with key splits or packed query rows the output does not space evenly, in fp32 to the split workspace with each
    /// row's log-sum-exp, for <see cref="SplitCombineKernel{T, TCodec}"/>. <paramref name="sums"/> are this lane's partial
    /// row sums (summed over the quad here); O is also multiplied by <paramref name="keepScale"/>, dropout's 1/(1 − p)
    /// (1 without), which P·V left out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<TElement, TOutput>(in TOutput output, RowValues max, RowValues sums, in AttentionParams<ushort> p,
        in QueryBlock block, int headDim, int rowTiles, int warpRow, int lane, float keepScale)
        where TElement : struct, Instructions.ITensorElement
        where TOutput : struct, IColumnBlocks
    {
        sums = sums.QuadSum();
        int row = block.RowStart + warpRow + lane / 4;
        RowValues maxBase2 = max.FiniteOrZero().Multiply(p.ScaleLog2);
        if (p.SplitOutput.Length > 0)
        {
            int splitRow = (block.RowIndex + row) * p.KeySplits + block.Split;
            output.Store(new FloatPairs(p.SplitOutput), splitRow * headDim + 2 * (lane & 3), p.KeySplits * headDim,
                block.QueryLength - row, sums.Reciprocal().Multiply(keepScale));
            if ((lane & 3) == 0)
                StoreLogSumExp(p.SplitLogSumExp, splitRow, p.KeySplits, block.QueryLength - row, maxBase2, sums, rowTiles);
            return;
        }
        output.Store(new PackedPairs<TElement>(p.Output.Cast<uint>()), block.QueryOrigin + row * p.QueryStrides.Row + 2 * (lane & 3),
            p.QueryStrides.Row, block.QueryLength - row, sums.Reciprocal().Multiply(keepScale));
        if ((lane & 3) == 0 && p.LogSumExp.Length > 0)
            StoreLogSumExp(p.LogSumExp, block.RowIndex + row, 1, block.QueryLength - row, maxBase2, sums, rowTiles);
    }

    /// <summary>
    /// Writes the log-sum-exp of this lane's valid rows (g, g + 8, and g + 16, g + 24 with two row tiles), row r at
    /// <paramref name="index"/> + r·<paramref name="rowStride"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreLogSumExp(ArrayView<float> logSumExp, int index, int rowStride, int rowsLeft, RowValues maxBase2,
        RowValues sums, int rowTiles)
    {
        if (rowsLeft > 0)
            logSumExp[index] = SoftmaxMath.LogSumExp(maxBase2.R0, sums.R0);
        if (rowsLeft > 8)
            logSumExp[index + 8 * rowStride] = SoftmaxMath.LogSumExp(maxBase2.R1, sums.R1);
        if (rowTiles == 2 && rowsLeft > 16)
            logSumExp[index + 16 * rowStride] = SoftmaxMath.LogSumExp(maxBase2.R2, sums.R2);
        if (rowTiles == 2 && rowsLeft > 24)
            logSumExp[index + 24 * rowStride] = SoftmaxMath.LogSumExp(maxBase2.R3, sums.R3);
    }
}
