using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// A warp's share of the backward's score tile and its gradient over one 64-column warpgroup product
/// (<see cref="WarpGroupMma"/>): the four 16-column <see cref="ScoreGradientBlock"/>s the <c>mma.sync</c> kernels keep,
/// filled by warpgroup products instead (the accumulator layouts coincide), so that masks, score modifiers and the
/// softmax gradient (<see cref="IScoreGradientBlocks"/>, through <see cref="Blocks"/>) act on them unchanged.
/// </summary>
internal struct WarpGroupScoreGradients
{
    public ScoreGradientBlocks<ScoreGradientBlocks<ScoreGradientBlock, ScoreGradientBlock>, ScoreGradientBlocks<ScoreGradientBlock, ScoreGradientBlock>> Blocks;

    /// <summary>
    /// S = A·Bᵀ (+ S if <paramref name="accumulate"/>), or with <paramref name="gradients"/> (a constant) dP, over one
    /// 16-k step: A (the warpgroup's 64 rows) at descriptor <paramref name="a"/>, B (64 rows) at <paramref name="b"/>,
    /// both K-major.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Accumulate<TElement>(bool gradients, SharedBlock shared, ulong a, ulong b, bool accumulate) where TElement : struct, ITensorElement
    {
        if (gradients)
            WarpGroupMma.SharedShared<TElement>(ref Blocks.First.First.Gradients, ref Blocks.First.Second.Gradients, ref Blocks.Second.First.Gradients,
                ref Blocks.Second.Second.Gradients, shared, a, b, accumulate);
        else
            WarpGroupMma.SharedShared<TElement>(ref Blocks.First.First.Scores, ref Blocks.First.Second.Scores, ref Blocks.Second.First.Scores,
                ref Blocks.Second.Second.Scores, shared, a, b, accumulate);
    }

    /// <summary>
    /// S = A·Bᵀ, or with <paramref name="gradients"/> (a constant) dP, over a head dim of one or two 64-feature panels
    /// (<paramref name="headDim"/>, a constant; <paramref name="panelBytes"/> apart in both tiles), A (the warpgroup's 64
    /// rows) and B (64 rows) K-major at descriptors <paramref name="a"/> and <paramref name="b"/>: a panel's four
    /// 16-feature steps at a time (32 bytes apart along its rows), the first overwriting the accumulators. The panels are
    /// spelled out, not looped over, as in the forward (<see cref="WarpGroupForwardKernel{TElement, TScores, TOutput, TShape, TModifier}"/>):
    /// a loop makes ptxas fence the chain at its head.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Multiply<TElement>(bool gradients, SharedBlock shared, ulong a, ulong b, int headDim, uint panelBytes) where TElement : struct, ITensorElement
    {
        PanelSteps<TElement>(gradients, shared, a, b, first: true);
        if (headDim > 64)
            PanelSteps<TElement>(gradients, shared, WarpGroupMma.Advance(a, panelBytes), WarpGroupMma.Advance(b, panelBytes), first: false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PanelSteps<TElement>(bool gradients, SharedBlock shared, ulong a, ulong b, bool first) where TElement : struct, ITensorElement
    {
        Accumulate<TElement>(gradients, shared, a, b, accumulate: !first);
        Accumulate<TElement>(gradients, shared, WarpGroupMma.Advance(a, 32), WarpGroupMma.Advance(b, 32), accumulate: true);
        Accumulate<TElement>(gradients, shared, WarpGroupMma.Advance(a, 64), WarpGroupMma.Advance(b, 64), accumulate: true);
        Accumulate<TElement>(gradients, shared, WarpGroupMma.Advance(a, 96), WarpGroupMma.Advance(b, 96), accumulate: true);
    }

    /// <summary>
    /// output += P·B (with dropout's mask if <paramref name="dropped"/>), or with <paramref name="gradients"/> (a
    /// constant) output += dS·B: the tile rounded to 16 bits as the A operand 16 columns (k) at a time, B MN-major (<see cref="WarpGroupBlock.MultiplyPacked"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void MultiplyInto<TElement, TOutput>(bool gradients, bool dropped, ref TOutput output, SharedBlock shared, ulong b, uint keyBytes,
        uint leafBytes)
        where TElement : struct, ITensorElement
        where TOutput : struct, IWarpGroupBlocks
    {
        Fragment a0 = Blocks.First.First.Pack<TElement>(gradients, dropped), a1 = Blocks.First.Second.Pack<TElement>(gradients, dropped),
            a2 = Blocks.Second.First.Pack<TElement>(gradients, dropped), a3 = Blocks.Second.Second.Pack<TElement>(gradients, dropped);
        WarpGroupBlock.MultiplyPacked<TElement, TOutput>(ref output, a0, a1, a2, a3, shared, b, keyBytes, leafBytes);
    }

    /// <summary>See <see cref="IScoreGradientBlocks.Hide"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(int diagonal, int low, int high, int queriesLeft) => Blocks.Hide(diagonal, low, high, queriesLeft);

    /// <summary>See <see cref="IScoreGradientBlocks.Modify"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int query, int key, bool transposed) where TModifier : struct, IScoreModifier =>
        Blocks.Modify(modifier, query, key, transposed);

    /// <summary>See <see cref="KeepDraws.Draw{TBlocks, TModifier}(ref TBlocks, TModifier, int, int, bool)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void DrawKeep<TModifier>(TModifier modifier, int rowIndex, int key, bool transposed) where TModifier : struct, IScoreModifier =>
        KeepDraws.Draw(ref Blocks, modifier, rowIndex, key, transposed);

    /// <summary>See <see cref="IScoreGradientBlocks.SoftmaxGradientByRow"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradientByRow<TModifier>(TModifier modifier, RowValues logSumExp, RowValues delta, float scale)
        where TModifier : struct, IScoreModifier =>
        Blocks.SoftmaxGradientByRow(modifier, logSumExp, delta, scale);

    /// <summary>See <see cref="IScoreGradientBlocks.SoftmaxGradient"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradient<TModifier>(TModifier modifier, ArrayView<float> logSumExp, ArrayView<float> delta, int column, float scale)
        where TModifier : struct, IScoreModifier =>
        Blocks.SoftmaxGradient(modifier, logSumExp, delta, column, scale);
}
