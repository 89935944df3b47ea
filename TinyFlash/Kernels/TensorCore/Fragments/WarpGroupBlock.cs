using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Shared;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// 64 columns of a warp's accumulator, the N of one warpgroup product: four 16-column blocks of one row tile
/// (<see cref="Quad"/>), which the <see cref="IColumnBlocks"/> operations act on unchanged.
/// </summary>
internal struct WarpGroupBlock : IWarpGroupBlocks
{
    public ColumnBlocks<ColumnBlocks<ColumnBlock<TwicePlusOne<Zero>>, ColumnBlock<TwicePlusOne<Zero>>>,
        ColumnBlocks<ColumnBlock<TwicePlusOne<Zero>>, ColumnBlock<TwicePlusOne<Zero>>>> Quad;

    /// <inheritdoc/>
    public readonly int Count => 4;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WarpGroupAccumulate<TElement>(SharedBlock shared, ulong a, ulong b, uint leafBytes, bool accumulate) where TElement : struct, ITensorElement =>
        WarpGroupMma.SharedShared<TElement>(ref Quad.First.First.First, ref Quad.First.Second.First, ref Quad.Second.First.First,
            ref Quad.Second.Second.First, shared, a, b, accumulate);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WarpGroupAccumulate<TElement>(SharedBlock shared, Fragment a, ulong b, uint leafBytes) where TElement : struct, ITensorElement =>
        WarpGroupMma.RegisterShared<TElement>(ref Quad.First.First.First, ref Quad.First.Second.First, ref Quad.Second.First.First,
            ref Quad.Second.Second.First, shared, a, b);

    /// <inheritdoc/>
    /// <remarks>
    /// All four A fragments are packed before the fence and the products, so that no register a product reads is
    /// written after the fence (ptxas would insert another fence before each product).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void WarpGroupMultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, ulong b, uint keyBytes, uint leafBytes)
        where TElement : struct, ITensorElement
        where TOutput : struct, IWarpGroupBlocks
    {
        Fragment a0 = Quad.First.First.First.Pack<TElement>(dropped), a1 = Quad.First.Second.First.Pack<TElement>(dropped),
            a2 = Quad.Second.First.First.Pack<TElement>(dropped), a3 = Quad.Second.Second.First.Pack<TElement>(dropped);
        MultiplyPacked<TElement, TOutput>(ref output, a0, a1, a2, a3, shared, b, keyBytes, leafBytes);
    }

    /// <summary>
    /// output += A·B over 64 k from four packed A fragments of 16 k each (<paramref name="a0"/> … <paramref name="a3"/>,
    /// packed before the call so that no register a product reads is written after the fence), B MN-major: k block i's
    /// rows <c>i·keyBytes</c> after <paramref name="b"/>, output leaf j <c>j·leafBytes</c> after.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyPacked<TElement, TOutput>(ref TOutput output, Fragment a0, Fragment a1, Fragment a2, Fragment a3, SharedBlock shared,
        ulong b, uint keyBytes, uint leafBytes)
        where TElement : struct, ITensorElement
        where TOutput : struct, IWarpGroupBlocks
    {
        WarpGroupMma.Fence();
        output.WarpGroupAccumulate<TElement>(shared, a0, b, leafBytes);
        output.WarpGroupAccumulate<TElement>(shared, a1, WarpGroupMma.Advance(b, keyBytes), leafBytes);
        output.WarpGroupAccumulate<TElement>(shared, a2, WarpGroupMma.Advance(b, 2 * keyBytes), leafBytes);
        output.WarpGroupAccumulate<TElement>(shared, a3, WarpGroupMma.Advance(b, 3 * keyBytes), leafBytes);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyAccumulate<TElement>(WarpOperand a, SharedBlock shared, uint offset, uint blockStride, bool transposed)
        where TElement : struct, ITensorElement => Quad.MultiplyAccumulate<TElement>(a, shared, offset, blockStride, transposed);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks => Quad.MultiplyInto<TElement, TOutput>(dropped, ref output, shared, offset, keyStride, columnStride);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void RowMax(ref RowValues max) => Quad.RowMax(ref max);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exponentiate(float scale, RowValues offsets, ref RowValues sums) => Quad.Exponentiate(scale, offsets, ref sums);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(RowValues factors) => Quad.ScaleRows(factors);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int row, int key) where TModifier : struct, IScoreModifier => Quad.Modify(modifier, row, key);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, int index, int count, ref uint carry) where TModifier : struct, IScoreModifier =>
        Quad.DrawKeep(modifier, rowIndex, key, index, count, ref carry);


    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(RowDiagonals diagonals, int low, int high, int keysLeft) => Quad.Hide(diagonals, low, high, keysLeft);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store<TSink>(TSink sink, int index, int rowStride, int rowsLeft, RowValues factors) where TSink : struct, IPairSink =>
        Quad.Store(sink, index, rowStride, rowsLeft, factors);
}
