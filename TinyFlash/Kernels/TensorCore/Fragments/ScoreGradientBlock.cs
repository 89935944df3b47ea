using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>One 16-query block of <see cref="IScoreGradientBlocks"/>: Sᵀ/Pᵀ and dPᵀ/dSᵀ of the warp's 16 keys.</summary>
internal struct ScoreGradientBlock : IScoreGradientBlocks
{
    public MmaTile Scores, Gradients;

    /// <inheritdoc/>
    public readonly int Count => 1;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AccumulateScores<TElement>(Fragment a, SharedBlock shared, uint offset, uint blockStride) where TElement : struct, ITensorElement =>
        Scores.MultiplyAccumulate<TElement>(a, LdMatrix.X4(shared, offset));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AccumulateGradients<TElement>(Fragment a, SharedBlock shared, uint offset, uint blockStride) where TElement : struct, ITensorElement =>
        Gradients.MultiplyAccumulate<TElement>(a, LdMatrix.X4(shared, offset));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(int diagonal, int low, int high, int queriesLeft) => Scores.Hide(diagonal, low, high, queriesLeft);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradient(ArrayView<float> logSumExp, ArrayView<float> delta, int column, float scale) =>
        Scores.SoftmaxGradientByColumn(ref Gradients, logSumExp, delta, column, scale);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyProbabilitiesInto<TElement, TOutput>(ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks =>
        output.MultiplyAccumulate<TElement>(new WarpOperand { First = Scores.Pack<TElement>() }, shared, offset, columnStride, transposed: true);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyGradientsInto<TElement, TOutput>(ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks =>
        output.MultiplyAccumulate<TElement>(new WarpOperand { First = Gradients.Pack<TElement>() }, shared, offset, columnStride, transposed: true);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void StoreGradientsTransposed<TElement>(SharedBlock shared, uint offset, uint pitch) where TElement : struct, ITensorElement =>
        Gradients.StoreTransposed<TElement>(shared, offset, pitch);
}
