using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Shared;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// One 16-column block of a warp's accumulator: one <see cref="MmaTile"/> per 16-row tile the warp owns
/// (<typeparamref name="TRowTiles"/> is 1 or 2). With two, every B fragment loaded from shared memory feeds two
/// <c>mma</c>s, which halves the shared-memory traffic per flop.
/// </summary>
internal struct ColumnBlock<TRowTiles> : IColumnBlocks where TRowTiles : struct, IConstant
{
    public MmaTile First, Second;

    private static bool Two => default(TRowTiles).Value == 2;

    /// <inheritdoc/>
    public readonly int Count => 1;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyAccumulate<TElement>(WarpOperand a, SharedBlock shared, uint offset, uint blockStride, bool transposed)
        where TElement : struct, ITensorElement
    {
        Fragment b = transposed ? LdMatrix.X4Transposed(shared, offset) : LdMatrix.X4(shared, offset);
        First.MultiplyAccumulate<TElement>(a.First, b);
        if (Two)
            Second.MultiplyAccumulate<TElement>(a.Second, b);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, uint offset, uint keyStride, uint columnStride)
        where TElement : struct, ITensorElement
        where TOutput : struct, IColumnBlocks
    {
        var a = new WarpOperand { First = First.Pack<TElement>(dropped) };
        if (Two)
            a.Second = Second.Pack<TElement>(dropped);
        output.MultiplyAccumulate<TElement>(a, shared, offset, columnStride, transposed: true);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void RowMax(ref RowValues max)
    {
        max.R0 = XMath.Max(max.R0, First.MaxTop);
        max.R1 = XMath.Max(max.R1, First.MaxBottom);
        if (Two)
        {
            max.R2 = XMath.Max(max.R2, Second.MaxTop);
            max.R3 = XMath.Max(max.R3, Second.MaxBottom);
        }
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exponentiate(float scale, RowValues offsets, ref RowValues sums)
    {
        First.Exponentiate(scale, offsets.R0, offsets.R1, ref sums.R0, ref sums.R1);
        if (Two)
            Second.Exponentiate(scale, offsets.R2, offsets.R3, ref sums.R2, ref sums.R3);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(RowValues factors)
    {
        First.ScaleRows(factors.R0, factors.R1);
        if (Two)
            Second.ScaleRows(factors.R2, factors.R3);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int row, int key) where TModifier : struct, IScoreModifier
    {
        First.Modify(modifier, row, key);
        if (Two)
            Second.Modify(modifier, row + 16, key);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, int index, int count, ref uint carry) where TModifier : struct, IScoreModifier
    {
        if (Two)
            MmaTile.DrawKeep(out First.Kept, out Second.Kept, modifier, rowIndex, key, rowIndex + 16, key, transposed: false, paired: true);
        else if ((index & 1) != 0)
            First.Kept = carry;
        else
            MmaTile.DrawKeep(out First.Kept, out carry, modifier, rowIndex, key, rowIndex, key + 16, transposed: false, paired: index + 1 < count);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(RowDiagonals diagonals, int low, int high, int keysLeft)
    {
        First.Hide(diagonals.R0, diagonals.R1, low, high, keysLeft);
        if (Two)
            Second.Hide(diagonals.R2, diagonals.R3, low, high, keysLeft);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store<TSink>(TSink sink, int index, int rowStride, int rowsLeft, RowValues factors)
        where TSink : struct, IPairSink
    {
        First.Store(sink, index, rowStride, rowsLeft > 0, rowsLeft > 8, factors.R0, factors.R1);
        if (Two)
            Second.Store(sink, index + 16 * rowStride, rowStride, rowsLeft > 16, rowsLeft > 24, factors.R2, factors.R3);
    }
}
