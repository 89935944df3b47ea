using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.TensorCore.Instructions;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// A warp's 16×16 fp32 accumulator: two m16n8 C fragments side by side. Lane (g = lane / 4, t = lane % 4) holds
/// rows g (<see cref="C0"/>, <see cref="C1"/>, <see cref="C4"/>, <see cref="C5"/>) and g + 8 (<see cref="C2"/>,
/// <see cref="C3"/>, <see cref="C6"/>, <see cref="C7"/>), columns 2t, 2t + 1 (C0–C3) and 2t + 8, 2t + 9 (C4–C7).
/// That is also the layout of an A fragment's rows and k, which is why P never leaves the registers.
/// </summary>
internal struct MmaTile
{
    public float C0, C1, C2, C3, C4, C5, C6, C7;

    /// <summary>this += a·b, with <paramref name="b"/> holding the B fragments of both 8-column halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyAccumulate<TElement>(Fragment a, Fragment b) where TElement : struct, ITensorElement
    {
        default(TElement).MultiplyAccumulate(ref C0, ref C1, ref C2, ref C3, a, b.R0, b.R1);
        default(TElement).MultiplyAccumulate(ref C4, ref C5, ref C6, ref C7, a, b.R2, b.R3);
    }

    /// <summary>The maximum of this lane's elements of row g.</summary>
    public readonly float MaxTop => XMath.Max(XMath.Max(C0, C1), XMath.Max(C4, C5));

    /// <summary>The maximum of this lane's elements of row g + 8.</summary>
    public readonly float MaxBottom => XMath.Max(XMath.Max(C2, C3), XMath.Max(C6, C7));

    /// <summary>Each element x becomes 2^(x·scale − offset of its row); the row sums of the results are added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exponentiate(float scale, float top, float bottom, ref float sumTop, ref float sumBottom)
    {
        C0 = XMath.Exp2(C0 * scale - top);
        C1 = XMath.Exp2(C1 * scale - top);
        C4 = XMath.Exp2(C4 * scale - top);
        C5 = XMath.Exp2(C5 * scale - top);
        C2 = XMath.Exp2(C2 * scale - bottom);
        C3 = XMath.Exp2(C3 * scale - bottom);
        C6 = XMath.Exp2(C6 * scale - bottom);
        C7 = XMath.Exp2(C7 * scale - bottom);
        sumTop += C0 + C1 + C4 + C5;
        sumBottom += C2 + C3 + C6 + C7;
    }

    /// <summary>Multiplies row g by <paramref name="top"/> and row g + 8 by <paramref name="bottom"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(float top, float bottom)
    {
        C0 *= top;
        C1 *= top;
        C4 *= top;
        C5 *= top;
        C2 *= bottom;
        C3 *= bottom;
        C6 *= bottom;
        C7 *= bottom;
    }

    /// <summary>The tile rounded to 16 bits as an A fragment (rows, then k = this tile's columns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Fragment Pack<TElement>() where TElement : struct, ITensorElement
    {
        var e = default(TElement);
        return new Fragment(e.Pack(C0, C1), e.Pack(C2, C3), e.Pack(C4, C5), e.Pack(C6, C7));
    }

    /// <summary>Each element through <paramref name="modifier"/>; (g, 2t) is query <paramref name="row"/>, key <paramref name="key"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int row, int key) where TModifier : struct, IScoreModifier
    {
        C0 = modifier.Apply(C0, row, key);
        C1 = modifier.Apply(C1, row, key + 1);
        C4 = modifier.Apply(C4, row, key + 8);
        C5 = modifier.Apply(C5, row, key + 9);
        C2 = modifier.Apply(C2, row + 8, key);
        C3 = modifier.Apply(C3, row + 8, key + 1);
        C6 = modifier.Apply(C6, row + 8, key + 8);
        C7 = modifier.Apply(C7, row + 8, key + 9);
    }

    /// <summary>
    /// Sets to −∞ the scores the mask hides. <paramref name="top"/> and <paramref name="bottom"/> are key − query of
    /// this lane's elements (g, 2t) and (g + 8, 2t); <paramref name="keysLeft"/> counts the keys that exist from
    /// column 2t on.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Hide(int top, int bottom, int low, int high, int keysLeft)
    {
        C0 = Visible(top, low, high, keysLeft > 0) ? C0 : float.NegativeInfinity;
        C1 = Visible(top + 1, low, high, keysLeft > 1) ? C1 : float.NegativeInfinity;
        C4 = Visible(top + 8, low, high, keysLeft > 8) ? C4 : float.NegativeInfinity;
        C5 = Visible(top + 9, low, high, keysLeft > 9) ? C5 : float.NegativeInfinity;
        C2 = Visible(bottom, low, high, keysLeft > 0) ? C2 : float.NegativeInfinity;
        C3 = Visible(bottom + 1, low, high, keysLeft > 1) ? C3 : float.NegativeInfinity;
        C6 = Visible(bottom + 8, low, high, keysLeft > 8) ? C6 : float.NegativeInfinity;
        C7 = Visible(bottom + 9, low, high, keysLeft > 9) ? C7 : float.NegativeInfinity;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Visible(int diagonal, int low, int high, bool keyExists) =>
        keyExists & diagonal >= low & diagonal <= high;

    /// <summary>
    /// Writes rows g (if <paramref name="top"/>) and g + 8 (if <paramref name="bottom"/>) times their factors, a pair
    /// of columns at a time: <paramref name="index"/> is the element index of (g, 2t), even.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store<TSink>(TSink sink, int index, int rowStride, bool top, bool bottom,
        float topFactor, float bottomFactor)
        where TSink : struct, IPairSink
    {
        if (top)
        {
            sink.Write(index, C0 * topFactor, C1 * topFactor);
            sink.Write(index + 8, C4 * topFactor, C5 * topFactor);
        }
        if (bottom)
        {
            int below = index + 8 * rowStride;
            sink.Write(below, C2 * bottomFactor, C3 * bottomFactor);
            sink.Write(below + 8, C6 * bottomFactor, C7 * bottomFactor);
        }
    }

    /// <summary>
    /// Multiplies each probability by its dropout keep factor: (g, 2t) is query row <paramref name="rowIndex"/> (the
    /// log-sum-exp's order), at a sequence position g more than a multiple of 16, and key <paramref name="key"/> of the
    /// sequence; one generator call, whose four words are this lane's eight elements (<see cref="Philox.AttentionWords"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Drop<TModifier>(TModifier modifier, int rowIndex, int key) where TModifier : struct, IScoreModifier
    {
        var words = modifier.DropoutWords(rowIndex, key);
        modifier.KeepPair(words.X, out float k0, out float k1);
        modifier.KeepPair(words.Y, out float k4, out float k5);
        modifier.KeepPair(words.Z, out float k2, out float k3);
        modifier.KeepPair(words.W, out float k6, out float k7);
        C0 *= k0;
        C1 *= k1;
        C4 *= k4;
        C5 *= k5;
        C2 *= k2;
        C3 *= k3;
        C6 *= k6;
        C7 *= k7;
    }

    /// <summary>
    /// The backward's softmax gradient on a transposed tile (rows keys, columns queries): this, raw scores Sᵀ, becomes
    /// Pᵀ∘Z (what dV needs) and <paramref name="gradients"/>, dPᵀ, becomes dSᵀ (see <see cref="SoftmaxGradient"/>), with
    /// the statistics of each column's query. <paramref name="column"/> indexes this lane's column 2t in the statistics;
    /// its query row is <paramref name="rowBase"/> + column (the log-sum-exp's order) and its row g is key
    /// <paramref name="key"/> of the sequence.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradientByColumn<TModifier>(ref MmaTile gradients, TModifier modifier, ArrayView<float> logSumExp, ArrayView<float> delta,
        int column, int rowBase, int key, float scale) where TModifier : struct, IScoreModifier
    {
        var offsets = ByColumn(logSumExp[column], logSumExp[column + 1], logSumExp[column + 8], logSumExp[column + 9]);
        var deltas = ByColumn(delta[column], delta[column + 1], delta[column + 8], delta[column + 9]);
        MmaTile keep = default;
        if (modifier.Drops)
            keep = TransposedKeep(modifier, rowBase + column - 2 * (Warp.LaneIdx & 3), key - (Warp.LaneIdx >> 2));
        SoftmaxGradient(ref gradients, offsets, deltas, scale, modifier.Drops, keep);
    }

    /// <summary>
    /// The backward's softmax gradient on a row-major tile (rows queries, columns keys): this, raw scores S, becomes P∘Z
    /// and <paramref name="gradients"/>, dP, becomes dS (see <see cref="SoftmaxGradient"/>). Rows g and g + 8 have
    /// base-2 log-sum-exp <paramref name="lseTop"/>, <paramref name="lseBottom"/> and D <paramref name="deltaTop"/>,
    /// <paramref name="deltaBottom"/>; (g, 2t) is query row <paramref name="rowIndex"/> (the log-sum-exp's order) and key
    /// <paramref name="key"/> of the sequence, with dropout as in <see cref="Drop"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradientByRow<TModifier>(ref MmaTile gradients, TModifier modifier, float lseTop, float lseBottom, float deltaTop,
        float deltaBottom, int rowIndex, int key, float scale) where TModifier : struct, IScoreModifier
    {
        var keep = ByRow(1f, 1f);
        if (modifier.Drops)
            keep.Drop(modifier, rowIndex, key);
        SoftmaxGradient(ref gradients, ByRow(lseTop, lseBottom), ByRow(deltaTop, deltaBottom), scale, modifier.Drops, keep);
    }

    /// <summary>
    /// Element by element, with each element's log-sum-exp offset, D and dropout factor Z: this (raw scores) becomes
    /// P = 2^(score·<paramref name="scale"/> − offset), gradients (dP) becomes dS = P∘(dP∘Z − D), and then this P∘Z.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SoftmaxGradient(ref MmaTile gradients, in MmaTile offsets, in MmaTile deltas, float scale, bool drops, in MmaTile keep)
    {
        C0 = XMath.Exp2(C0 * scale - offsets.C0);
        C1 = XMath.Exp2(C1 * scale - offsets.C1);
        C2 = XMath.Exp2(C2 * scale - offsets.C2);
        C3 = XMath.Exp2(C3 * scale - offsets.C3);
        C4 = XMath.Exp2(C4 * scale - offsets.C4);
        C5 = XMath.Exp2(C5 * scale - offsets.C5);
        C6 = XMath.Exp2(C6 * scale - offsets.C6);
        C7 = XMath.Exp2(C7 * scale - offsets.C7);
        if (drops)
            gradients.MultiplyElements(keep);
        gradients.C0 = C0 * (gradients.C0 - deltas.C0);
        gradients.C1 = C1 * (gradients.C1 - deltas.C1);
        gradients.C2 = C2 * (gradients.C2 - deltas.C2);
        gradients.C3 = C3 * (gradients.C3 - deltas.C3);
        gradients.C4 = C4 * (gradients.C4 - deltas.C4);
        gradients.C5 = C5 * (gradients.C5 - deltas.C5);
        gradients.C6 = C6 * (gradients.C6 - deltas.C6);
        gradients.C7 = C7 * (gradients.C7 - deltas.C7);
        if (drops)
            MultiplyElements(keep);
    }

    /// <summary>A tile whose row g holds <paramref name="top"/> and row g + 8 <paramref name="bottom"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static MmaTile ByRow(float top, float bottom) => new()
    {
        C0 = top, C1 = top, C4 = top, C5 = top,
        C2 = bottom, C3 = bottom, C6 = bottom, C7 = bottom,
    };

    /// <summary>A tile whose columns 2t, 2t + 1, 2t + 8, 2t + 9 hold <paramref name="c0"/>, <paramref name="c1"/>, <paramref name="c8"/>, <paramref name="c9"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static MmaTile ByColumn(float c0, float c1, float c8, float c9) => new()
    {
        C0 = c0, C1 = c1, C4 = c8, C5 = c9,
        C2 = c0, C3 = c1, C6 = c8, C7 = c9,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void MultiplyElements(in MmaTile factors)
    {
        C0 *= factors.C0;
        C1 *= factors.C1;
        C2 *= factors.C2;
        C3 *= factors.C3;
        C4 *= factors.C4;
        C5 *= factors.C5;
        C6 *= factors.C6;
        C7 *= factors.C7;
    }

    /// <summary>
    /// Dropout's factors Z for a transposed 16×16 tile of key rows from <paramref name="keyBase"/> (a multiple of 16 in
    /// the sequence) and query columns from <paramref name="queryBase"/> (the log-sum-exp's order, at a multiple of 16
    /// in the sequence), drawn row-major: lane (g, t) draws the call of queries g and g + 8 and pair slot t
    /// (<see cref="Philox.AttentionWords"/>), as the forward does, the tile's 32 calls one a lane; the lane owning
    /// transposed element (key g + 8h, query 2t + e + 8n) drew it as query 2t + e (+ 8n), pair slot g/2, half g mod 2,
    /// so each lane reads the kept bits of lanes 8t + g/2 and 8t + 4 + g/2: two shuffles for the four calls that
    /// drawing by column would cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static MmaTile TransposedKeep<TModifier>(TModifier modifier, int queryBase, int keyBase) where TModifier : struct, IScoreModifier
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        var words = modifier.DropoutWords(queryBase + g, keyBase + 2 * t);
        // Bit 4·(query half) + 2·(key half) + (key mod 2).
        uint kept = modifier.KeptHalves(words.X) | modifier.KeptHalves(words.Y) << 2 | modifier.KeptHalves(words.Z) << 4 |
            modifier.KeptHalves(words.W) << 6;
        int source = 8 * t + (g >> 1);
        uint even = (uint)Warp.Shuffle((int)kept, source) >> (g & 1), odd = (uint)Warp.Shuffle((int)kept, source + 4) >> (g & 1);
        return new MmaTile
        {
            C0 = modifier.KeepFactor(even), C1 = modifier.KeepFactor(odd),
            C2 = modifier.KeepFactor(even >> 2), C3 = modifier.KeepFactor(odd >> 2),
            C4 = modifier.KeepFactor(even >> 4), C5 = modifier.KeepFactor(odd >> 4),
            C6 = modifier.KeepFactor(even >> 6), C7 = modifier.KeepFactor(odd >> 6),
        };
    }
}
