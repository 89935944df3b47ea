using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// Two runs of column blocks side by side: <typeparamref name="TFirst"/>'s blocks, then <typeparamref name="TSecond"/>'s.
/// After inlining, every block index and offset is a constant.
/// </summary>
internal struct ColumnBlocks<TFirst, TSecond> : IColumnBlocks
    where TFirst : struct, IColumnBlocks
    where TSecond : struct, IColumnBlocks
{
    public TFirst First;
    public TSecond Second;

    private static int FirstCount => default(TFirst).Count;

    /// <inheritdoc/>
    public readonly int Count => default(TFirst).Count + default(TSecond).Count;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyAccumulate<TElement>(WarpOperand a, SharedBlock shared, uint offset, uint blockStride, bool transposed)
        where TElement : struct, ITensorElement
    {
        First.MultiplyAccumulate<TElement>(a, shared, offset, blockStride, transposed);
        Second.MultiplyAccumulate<TElement>(a, shared, offset + (uint)FirstCount * blockStride, blockStride, transposed);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks
    {
        First.MultiplyInto<TElement, TOutput>(dropped, ref output, shared, offset, keyStride, columnStride);
        Second.MultiplyInto<TElement, TOutput>(dropped, ref output, shared, offset + (uint)FirstCount * keyStride, keyStride, columnStride);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void RowMax(ref RowValues max)
    {
        First.RowMax(ref max);
        Second.RowMax(ref max);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exponentiate(float scale, RowValues offsets, ref RowValues sums)
    {
        First.Exponentiate(scale, offsets, ref sums);
        Second.Exponentiate(scale, offsets, ref sums);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(RowValues factors)
    {
        First.ScaleRows(factors);
        Second.ScaleRows(factors);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int row, int key) where TModifier : struct, IScoreModifier
    {
        First.Modify(modifier, row, key);
        Second.Modify(modifier, row, key + 16 * FirstCount);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, int index, int count, ref uint carry) where TModifier : struct, IScoreModifier
    {
        First.DrawKeep(modifier, rowIndex, key, index, count, ref carry);
        Second.DrawKeep(modifier, rowIndex, key + 16 * FirstCount, index + FirstCount, count, ref carry);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(RowDiagonals diagonals, int low, int high, int keysLeft)
    {
        First.Hide(diagonals, low, high, keysLeft);
        Second.Hide(diagonals.Plus(16 * FirstCount), low, high, keysLeft - 16 * FirstCount);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store<TSink>(TSink sink, int index, int rowStride, int rowsLeft, RowValues factors)
        where TSink : struct, IPairSink
    {
        First.Store(sink, index, rowStride, rowsLeft, factors);
        Second.Store(sink, index + 16 * FirstCount, rowStride, rowsLeft, factors);
    }
}
