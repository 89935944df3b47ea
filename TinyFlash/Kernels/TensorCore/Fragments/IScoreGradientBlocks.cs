using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// A warp's score tile of the backward pass and its gradient, side by side in registers, in either orientation: in the
/// key-block kernel transposed (rows the warp's 16 keys, columns 16-query blocks: Sᵀ, later Pᵀ, and dPᵀ, later dSᵀ), in
/// the deterministic dq kernel row-major (rows the warp's 16 queries, columns 16-key blocks: S, P and dP, dS). Each leaf
/// (<see cref="ScoreGradientBlock"/>) holds both tiles of one block, and <see cref="ScoreGradientBlocks{TFirst, TSecond}"/>
/// makes a balanced tree of them (ILGPU does not unroll loops; registers need constant indices). Block <c>j</c>'s
/// shared-memory offsets are <c>offset + j·stride</c>; its columns start at 16j.
/// </summary>
internal interface IScoreGradientBlocks
{
    /// <summary>Number of 16-query blocks.</summary>
    int Count { get; }

    /// <summary>
    /// S += a·B, or with <paramref name="gradients"/> (a constant) dP += a·B; B not transposed, block j at
    /// <paramref name="offset"/> + j·<paramref name="blockStride"/>. Transposed: a the warp's K (V) rows, B rows of Q (dO);
    /// row-major: a the warp's Q (dO) rows, B rows of K (V).
    /// </summary>
    void Accumulate<TElement>(bool gradients, Fragment a, SharedBlock shared, uint offset, uint blockStride) where TElement : struct, ITensorElement;

    /// <summary>−∞ in S where the mask hides a score: <paramref name="diagonal"/> is column − row position of this lane's (g, 2t) of block 0 (transposed: query − key; row-major: key − query).</summary>
    void Hide(int diagonal, int low, int high, int queriesLeft);

    /// <summary>
    /// Each score through <paramref name="modifier"/> (additive ones: ALiBi, bias): this lane's (g, 2t) of block 0 is
    /// query <paramref name="query"/> and key <paramref name="key"/>, rows keys if <paramref name="transposed"/> (a constant).
    /// </summary>
    void Modify<TModifier>(TModifier modifier, int query, int key, bool transposed) where TModifier : struct, IScoreModifier;

    /// <summary>
    /// Draws dropout's kept bits of every S tile (<see cref="MmaTile.Kept"/>; indices only, so while the products run):
    /// this lane's (g, 2t) of block 0 is query row <paramref name="rowIndex"/> (the log-sum-exp's order, of a query
    /// tile at a multiple of 16 in the sequence) and key <paramref name="key"/> of the sequence, rows keys if
    /// <paramref name="transposed"/> (a constant). Blocks 2i and 2i + 1 are drawn together, one generator call a lane
    /// (<see cref="MmaTile.DrawKeep"/>), block <paramref name="index"/> of <paramref name="count"/> being this tree's
    /// first, the second's bits passed on in <paramref name="carry"/>. <see cref="KeepDraws"/> starts it.
    /// </summary>
    void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, bool transposed, int index, int count, ref uint carry)
        where TModifier : struct, IScoreModifier;

    /// <summary>
    /// Row-major: S → P (times the dropout factors) and dP → dS (<see cref="MmaTile.SoftmaxGradientByRow{TModifier}"/>) for rows with base-2
    /// log-sum-exp and D in <paramref name="logSumExp"/> and <paramref name="delta"/> (R0 row g, R1 row g + 8).
    /// </summary>
    void SoftmaxGradientByRow<TModifier>(TModifier modifier, RowValues logSumExp, RowValues delta, float scale)
        where TModifier : struct, IScoreModifier;

    /// <summary>
    /// Transposed: Sᵀ → Pᵀ (times the dropout factors) and dPᵀ → dSᵀ (<see cref="MmaTile.SoftmaxGradientByColumn{TModifier}"/>);
    /// block j's columns start at <paramref name="column"/> + 16j.
    /// </summary>
    void SoftmaxGradient<TModifier>(TModifier modifier, ArrayView<float> logSumExp, ArrayView<float> delta, int column, float scale)
        where TModifier : struct, IScoreModifier;

    /// <summary>
    /// output += Pᵀ·B, or with <paramref name="gradients"/> (a constant) output += dSᵀ·B: the tile rounded to 16 bits as the
    /// A operand, P with dropout's mask ANDed in if <paramref name="dropped"/> (uniform across the group; <see cref="MmaTile.Pack{TElement}(bool)"/>),
    /// B read transposed (rows of dO for dV, of Q for dK, of K for dQ; see <see cref="IColumnBlocks.MultiplyInto"/>).
    /// </summary>
    void MultiplyInto<TElement, TOutput>(bool gradients, bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks;
}
