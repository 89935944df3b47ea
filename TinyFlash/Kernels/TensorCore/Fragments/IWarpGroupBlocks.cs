using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// A warp's share of a warpgroup accumulator (its 16 rows of the group's 64) over a run of 64-column leaves
/// (<see cref="WarpGroupBlock"/>, one <see cref="WarpGroupMma"/> product each), as a balanced tree
/// (<see cref="WarpGroupBlocks{TFirst, TSecond}"/>) for the same reason as <see cref="IColumnBlocks"/>: constant
/// register indices. Everything the <c>mma.sync</c> kernels do to their accumulators (softmax, masks, stores) it does
/// the same way, since the registers are laid out the same; shared operands are named by descriptors into the
/// group's shared block, and leaf j's are <c>j·leafBytes</c> further on.
/// </summary>
internal interface IWarpGroupBlocks : IColumnBlocks
{
    /// <summary>
    /// this = A·Bᵀ (+ this if <paramref name="accumulate"/>) over one 16-k step: A (the warpgroup's 64 rows) at
    /// descriptor <paramref name="a"/>, B (64 rows a leaf) at <paramref name="b"/>, both K-major in shared memory.
    /// </summary>
    void WarpGroupAccumulate<TElement>(SharedBlock shared, ulong a, ulong b, uint leafBytes, bool accumulate) where TElement : struct, ITensorElement;

    /// <summary>this += a·B over one 16-k step: <paramref name="a"/> this warp's A fragment, B MN-major at <paramref name="b"/>.</summary>
    void WarpGroupAccumulate<TElement>(SharedBlock shared, Fragment a, ulong b, uint leafBytes) where TElement : struct, ITensorElement;

    /// <summary>
    /// output += this·B, this rounded to 16 bits as the A operand 16 columns (k) at a time (dropout's mask ANDed in if
    /// <paramref name="dropped"/>, uniform across the group): the B rows (MN-major) of
    /// this's 16-column block i start <c>i·keyBytes</c> after <paramref name="b"/>, output leaf j <c>j·leafBytes</c> after.
    /// Fences (<see cref="WarpGroupMma.Fence"/>) after packing each leaf's operands, so the caller need not.
    /// </summary>
    void WarpGroupMultiplyInto<TElement, TOutput>(bool dropped, ref TOutput output, SharedBlock shared, ulong b, uint keyBytes, uint leafBytes)
        where TElement : struct, ITensorElement
        where TOutput : struct, IWarpGroupBlocks;
}
