using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// Two runs of 64-column leaves side by side (<see cref="Pair"/>, whose <see cref="IColumnBlocks"/> operations this
/// passes on): <typeparamref name="TFirst"/>'s leaves, then <typeparamref name="TSecond"/>'s.
/// </summary>
internal struct WarpGroupBlocks<TFirst, TSecond> : IWarpGroupBlocks
    where TFirst : struct, IWarpGroupBlocks
    where TSecond : struct, IWarpGroupBlocks
{
    public ColumnBlocks<TFirst, TSecond> Pair;

    private static uint FirstLeaves => (uint)default(TFirst).Count / 4;

    private static uint FirstBlocks => (uint)default(TFirst).Count;

    /// <inheritdoc/>
    public readonly int Count => default(TFirst).Count + default(TSecond).Count;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WarpGroupAccumulate<TElement>(SharedBlock shared, ulong a, ulong b, uint leafBytes, bool accumulate) where TElement : struct, ITensorElement
    {
        Pair.First.WarpGroupAccumulate<TElement>(shared, a, b, leafBytes, accumulate);
        Pair.Second.WarpGroupAccumulate<TElement>(shared, a, WarpGroupMma.Advance(b, FirstLeaves * leafBytes), leafBytes, accumulate);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WarpGroupAccumulate<TElement>(SharedBlock shared, Fragment a, ulong b, uint leafBytes) where TElement : struct, ITensorElement
    {
        Pair.First.WarpGroupAccumulate<TElement>(shared, a, b, leafBytes);
        Pair.Second.WarpGroupAccumulate<TElement>(shared, a, WarpGroupMma.Advance(b, FirstLeaves * leafBytes), leafBytes);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void WarpGroupMultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, ulong b, uint keyBytes, uint leafBytes)
        where TElement : struct, ITensorElement
        where TOutput : struct, IWarpGroupBlocks
    {
        Pair.First.WarpGroupMultiplyInto<TElement, TOutput>(dropped, ref output, shared, b, keyBytes, leafBytes);
        Pair.Second.WarpGroupMultiplyInto<TElement, TOutput>(dropped, ref output, shared, WarpGroupMma.Advance(b, FirstBlocks * keyBytes), keyBytes, leafBytes);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyAccumulate<TElement>(WarpOperand a, SharedBlock shared, uint offset, uint blockStride, bool transposed)
        where TElement : struct, ITensorElement => Pair.MultiplyAccumulate<TElement>(a, shared, offset, blockStride, transposed);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks => Pair.MultiplyInto<TElement, TOutput>(dropped, ref output, shared, offset, keyStride, columnStride);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void RowMax(ref RowValues max) => Pair.RowMax(ref max);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exponentiate(float scale, RowValues offsets, ref RowValues sums) => Pair.Exponentiate(scale, offsets, ref sums);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(RowValues factors) => Pair.ScaleRows(factors);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int row, int key) where TModifier : struct, IScoreModifier => Pair.Modify(modifier, row, key);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, int index, int count, ref uint carry) where TModifier : struct, IScoreModifier =>
        Pair.DrawKeep(modifier, rowIndex, key, index, count, ref carry);


    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(RowDiagonals diagonals, int low, int high, int keysLeft) => Pair.Hide(diagonals, low, high, keysLeft);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store<TSink>(TSink sink, int index, int rowStride, int rowsLeft, RowValues factors) where TSink : struct, IPairSink =>
        Pair.Store(sink, index, rowStride, rowsLeft, factors);
}
