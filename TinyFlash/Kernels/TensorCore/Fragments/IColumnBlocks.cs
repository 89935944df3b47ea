using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// A warp's fp32 accumulator over all its rows and a run of 16-column blocks (the scores of a key tile, or the output
/// over the head dimension), held in registers: a balanced tree of <see cref="ColumnBlock{TRowTiles}"/> leaves
/// (<see cref="ColumnBlocks{TFirst, TSecond}"/>), because ILGPU does not unroll loops and registers need constant
/// indices. Every operation walks the tree at compile time; block <c>j</c>'s shared-memory offsets are
/// <c>offset + j·stride</c>.
/// </summary>
internal interface IColumnBlocks
{
    /// <summary>Number of 16-column blocks.</summary>
    int Count { get; }

    /// <summary>
    /// this += a·B, where block j's B (16 k × 16 columns) comes from one <c>ldmatrix.x4</c> (transposed if
    /// <paramref name="transposed"/>) at this lane's row address <paramref name="offset"/> + j·<paramref name="blockStride"/>.
    /// </summary>
    void MultiplyAccumulate<TElement>(WarpOperand a, SharedBlock shared, uint offset, uint blockStride, bool transposed)
        where TElement : struct, ITensorElement;

    /// <summary>
    /// output += this·B, this rounded to 16 bits block by block as the A operand (with dropout's mask ANDed in if
    /// <paramref name="dropped"/>, uniform across the group: <see cref="MmaTile.Pack{TElement}(bool)"/>): block j of this (16 keys) meets
    /// the B rows at <paramref name="offset"/> + j·<paramref name="keyStride"/>, read transposed, output block i at
    /// + i·<paramref name="columnStride"/>.
    /// </summary>
    void MultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks;

    /// <summary>Folds this lane's elements of each row into <paramref name="max"/>.</summary>
    void RowMax(ref RowValues max);

    /// <summary>x → 2^(x·scale − offset of its row); adds the results' row sums to <paramref name="sums"/>.</summary>
    void Exponentiate(float scale, RowValues offsets, ref RowValues sums);

    /// <summary>Multiplies each row by its factor.</summary>
    void ScaleRows(RowValues factors);

    /// <summary>Each score through <paramref name="modifier"/>: this lane's (g, 2t) of block 0 is query <paramref name="row"/>, key <paramref name="key"/>.</summary>
    void Modify<TModifier>(TModifier modifier, int row, int key) where TModifier : struct, IScoreModifier;

    /// <summary>
    /// Draws dropout's kept bits of every tile (<see cref="MmaTile.Kept"/>; indices only, so while the products that
    /// fill the tiles run): this lane's (g, 2t) of block 0 is query row <paramref name="rowIndex"/> (the log-sum-exp's
    /// order, at a sequence position g more than a multiple of 16) and key <paramref name="key"/> of the sequence. Tiles
    /// are drawn in pairs, one generator call a lane a pair (<see cref="MmaTile.DrawKeep"/>): two row tiles of a block
    /// together, else blocks 2i and 2i + 1, block <paramref name="index"/> of <paramref name="count"/> being this
    /// tree's first, the second's bits passed on in <paramref name="carry"/>. <see cref="KeepDraws"/> starts it;
    /// <see cref="MultiplyInto"/> applies them.
    /// </summary>
    void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, int index, int count, ref uint carry) where TModifier : struct, IScoreModifier;


    /// <summary>
    /// −∞ where the mask hides a score: <paramref name="diagonals"/> are key − query of this lane's rows g, g + 8,
    /// g + 16, g + 24 at column 2t of block 0.
    /// </summary>
    void Hide(RowDiagonals diagonals, int low, int high, int keysLeft);

    /// <summary>
    /// Writes the valid rows times their factors, two columns at a time, to <paramref name="sink"/>: <paramref name="index"/>
    /// is the element index of this lane's (g, 2t) in block 0; <paramref name="rowsLeft"/> counts the rows that exist
    /// from row g on.
    /// </summary>
    void Store<TSink>(TSink sink, int index, int rowStride, int rowsLeft, RowValues factors)
        where TSink : struct, IPairSink;
}
