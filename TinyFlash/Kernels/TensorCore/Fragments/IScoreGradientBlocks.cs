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
    /// Row-major: S → P (times the dropout factors) and dP → dS (<see cref="MmaTile.SoftmaxGradientByRow{TModifier}"/>) for rows with base-2
    /// log-sum-exp and D in <paramref name="logSumExp"/> and <paramref name="delta"/> (R0 row g, R1 row g + 8); (g, 2t) of
    /// block 0 is query row <paramref name="rowIndex"/> and key <paramref name="key"/> of the sequence.
    /// </summary>
    void SoftmaxGradientByRow<TModifier>(TModifier modifier, RowValues logSumExp, RowValues delta, int rowIndex, int key, float scale)
        where TModifier : struct, IScoreModifier;

    /// <summary>
    /// Transposed: Sᵀ → Pᵀ (times the dropout factors) and dPᵀ → dSᵀ (<see cref="MmaTile.SoftmaxGradientByColumn{TModifier}"/>);
    /// block j's columns start at <paramref name="column"/> + 16j.
    /// </summary>
    void SoftmaxGradient<TModifier>(TModifier modifier, ArrayView<float> logSumExp, ArrayView<float> delta, int column, int rowBase, int key, float scale)
        where TModifier : struct, IScoreModifier;

    /// <summary>
    /// output += Pᵀ·B, or with <paramref name="gradients"/> (a constant) output += dSᵀ·B: the tile rounded to 16 bits as the
    /// A operand, B read transposed (rows of dO for dV, of Q for dK, of K for dQ; see <see cref="IColumnBlocks.MultiplyInto"/>).
    /// </summary>
    void MultiplyInto<TElement, TOutput>(bool gradients, ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks;
}
