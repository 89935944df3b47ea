using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>Two runs of <see cref="IScoreGradientBlocks"/> side by side; after inlining every block index and offset is a constant.</summary>
internal struct ScoreGradientBlocks<TFirst, TSecond> : IScoreGradientBlocks
    where TFirst : struct, IScoreGradientBlocks
    where TSecond : struct, IScoreGradientBlocks
{
    public TFirst First;
    public TSecond Second;

    private static int FirstCount => default(TFirst).Count;

    /// <inheritdoc/>
    public readonly int Count => default(TFirst).Count + default(TSecond).Count;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Accumulate<TElement>(bool gradients, Fragment a, SharedBlock shared, uint offset, uint blockStride) where TElement : struct, ITensorElement
    {
        First.Accumulate<TElement>(gradients, a, shared, offset, blockStride);
        Second.Accumulate<TElement>(gradients, a, shared, offset + (uint)FirstCount * blockStride, blockStride);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(int diagonal, int low, int high, int queriesLeft)
    {
        First.Hide(diagonal, low, high, queriesLeft);
        Second.Hide(diagonal + 16 * FirstCount, low, high, queriesLeft - 16 * FirstCount);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int query, int key, bool transposed) where TModifier : struct, IScoreModifier
    {
        First.Modify(modifier, query, key, transposed);
        if (transposed)
            Second.Modify(modifier, query + 16 * FirstCount, key, transposed);
        else
            Second.Modify(modifier, query, key + 16 * FirstCount, transposed);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, bool transposed, int index, int count, ref uint carry)
        where TModifier : struct, IScoreModifier
    {
        First.DrawKeep(modifier, rowIndex, key, transposed, index, count, ref carry);
        if (transposed)
            Second.DrawKeep(modifier, rowIndex + 16 * FirstCount, key, transposed, index + FirstCount, count, ref carry);
        else
            Second.DrawKeep(modifier, rowIndex, key + 16 * FirstCount, transposed, index + FirstCount, count, ref carry);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradientByRow<TModifier>(TModifier modifier, RowValues logSumExp, RowValues delta, float scale)
        where TModifier : struct, IScoreModifier
    {
        First.SoftmaxGradientByRow(modifier, logSumExp, delta, scale);
        Second.SoftmaxGradientByRow(modifier, logSumExp, delta, scale);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradient<TModifier>(TModifier modifier, ArrayView<float> logSumExp, ArrayView<float> delta, int column, float scale)
        where TModifier : struct, IScoreModifier
    {
        First.SoftmaxGradient(modifier, logSumExp, delta, column, scale);
        Second.SoftmaxGradient(modifier, logSumExp, delta, column + 16 * FirstCount, scale);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyInto<TElement, TOutput>(bool gradients, bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride,
        uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks
    {
        First.MultiplyInto<TElement, TOutput>(gradients, dropped, ref output, shared, offset, keyStride, columnStride);
        Second.MultiplyInto<TElement, TOutput>(gradients, dropped, ref output, shared, offset + (uint)FirstCount * keyStride, keyStride, columnStride);
    }
}
