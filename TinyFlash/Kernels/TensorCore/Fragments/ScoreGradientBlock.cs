using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
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
    public void Accumulate<TElement>(bool gradients, Fragment a, SharedBlock shared, uint offset, uint blockStride) where TElement : struct, ITensorElement
    {
        Fragment b = LdMatrix.X4(shared, offset);
        if (gradients)
            Gradients.MultiplyAccumulate<TElement>(a, b);
        else
            Scores.MultiplyAccumulate<TElement>(a, b);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(int diagonal, int low, int high, int queriesLeft) => Scores.Hide(diagonal, diagonal - 8, low, high, queriesLeft);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int query, int key, bool transposed) where TModifier : struct, IScoreModifier
    {
        if (transposed)
            Scores.Modify(new TransposedScoreModifier<TModifier>(modifier), key, query);
        else
            Scores.Modify(modifier, query, key);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, bool transposed, int index, int count, ref uint carry)
        where TModifier : struct, IScoreModifier
    {
        if ((index & 1) != 0)
            Scores.Kept = carry;
        else
            MmaTile.DrawKeep(out Scores.Kept, out carry, modifier, rowIndex, key, transposed ? rowIndex + 16 : rowIndex, transposed ? key : key + 16,
                transposed, paired: index + 1 < count);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradientByRow<TModifier>(TModifier modifier, RowValues logSumExp, RowValues delta, float scale)
        where TModifier : struct, IScoreModifier =>
        Scores.SoftmaxGradientByRow(ref Gradients, modifier, logSumExp.R0, logSumExp.R1, delta.R0, delta.R1, scale);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradient<TModifier>(TModifier modifier, ArrayView<float> logSumExp, ArrayView<float> delta, int column, float scale)
        where TModifier : struct, IScoreModifier =>
        Scores.SoftmaxGradientByColumn(ref Gradients, modifier, logSumExp, delta, column, scale);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyInto<TElement, TOutput>(bool gradients, bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride,
        uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks =>
        output.MultiplyAccumulate<TElement>(new WarpOperand { First = Pack<TElement>(gradients, dropped) }, shared, offset, columnStride, transposed: true);

    /// <summary>dS, or P (with dropout's mask if <paramref name="dropped"/>), rounded to 16 bits as an A fragment (<paramref name="gradients"/> a constant).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Fragment Pack<TElement>(bool gradients, bool dropped) where TElement : struct, ITensorElement =>
        gradients ? Gradients.Pack<TElement>() : Scores.Pack<TElement>(dropped);
}
