using ILGPU;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// A warp's transposed score tile of the backward pass and its gradient, side by side in registers: rows are the
/// warp's 16 keys, columns a run of 16-query blocks; each leaf (<see cref="ScoreGradientBlock"/>) holds Sᵀ (later
/// Pᵀ) and dPᵀ (later dSᵀ) of one block, and <see cref="ScoreGradientBlocks{TFirst, TSecond}"/> makes a balanced tree
/// of them (ILGPU does not unroll loops; registers need constant indices). Block <c>j</c>'s shared-memory offsets are
/// <c>offset + j·stride</c>; its columns are queries 16j….
/// </summary>
internal interface IScoreGradientBlocks
{
    /// <summary>Number of 16-query blocks.</summary>
    int Count { get; }

    /// <summary>Sᵀ += a·B (a: the warp's K rows; B: Q rows, not transposed, block j at <paramref name="offset"/> + j·<paramref name="blockStride"/>).</summary>
    void AccumulateScores<TElement>(Fragment a, SharedBlock shared, uint offset, uint blockStride) where TElement : struct, ITensorElement;

    /// <summary>dPᵀ += a·B (a: the warp's V rows; B: dO rows, likewise).</summary>
    void AccumulateGradients<TElement>(Fragment a, SharedBlock shared, uint offset, uint blockStride) where TElement : struct, ITensorElement;

    /// <summary>−∞ in Sᵀ where the mask hides a score: <paramref name="diagonal"/> is query − key of this lane's (g, 2t) of block 0.</summary>
    void Hide(int diagonal, int low, int high, int queriesLeft);

    /// <summary>Sᵀ → Pᵀ and dPᵀ → dSᵀ (<see cref="MmaTile.SoftmaxGradientByColumn"/>); block j's columns start at <paramref name="column"/> + 16j.</summary>
    void SoftmaxGradient(ArrayView<float> logSumExp, ArrayView<float> delta, int column, float scale);

    /// <summary>output += Pᵀ·B, Pᵀ rounded to 16 bits as the A operand (B: rows of dO, read transposed; see <see cref="IColumnBlocks.MultiplyInto"/>).</summary>
    void MultiplyProbabilitiesInto<TElement, TOutput>(ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks;

    /// <summary>output += dSᵀ·B, likewise (B: rows of Q).</summary>
    void MultiplyGradientsInto<TElement, TOutput>(ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks;

    /// <summary>dSᵀ written transposed (as dS: [query][key], 16-bit) at <paramref name="offset"/>, block j 16 rows of <paramref name="pitch"/> further.</summary>
    void StoreGradientsTransposed<TElement>(SharedBlock shared, uint offset, uint pitch) where TElement : struct, ITensorElement;
}
