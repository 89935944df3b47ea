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
/// <see cref="Kept"/> holds dropout's kept bits of the eight elements, drawn from indices alone (<see cref="DrawKeep"/>),
/// so a kernel draws them while the products that fill the tile run.
/// </summary>
internal struct MmaTile
{
    public float C0, C1, C2, C3, C4, C5, C6, C7;

    /// <summary>
    /// Dropout's kept bits of this lane's elements: bit 4w + e, w = 2·(row g + 8) + (column 2t + 8 …), e the column's
    /// parity (C0 bit 0, C1 1, C4 4, C5 5, C2 8, C3 9, C6 12, C7 13), the layout of a call's bytes
    /// (<see cref="Philox.AttentionWords"/>) shifted to this lane's pair of columns.
    /// </summary>
    public uint Kept;

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

    /// <summary>Multiplies each probability by its dropout keep factor (<see cref="Kept"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Drop<TModifier>(TModifier modifier) where TModifier : struct, IScoreModifier => MultiplyElements(KeepFactors(modifier));

    /// <summary>Dropout's factors Z of this lane's elements, from <see cref="Kept"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly MmaTile KeepFactors<TModifier>(TModifier modifier) where TModifier : struct, IScoreModifier => new()
    {
        C0 = modifier.KeepFactor(Kept), C1 = modifier.KeepFactor(Kept >> 1), C4 = modifier.KeepFactor(Kept >> 4), C5 = modifier.KeepFactor(Kept >> 5),
        C2 = modifier.KeepFactor(Kept >> 8), C3 = modifier.KeepFactor(Kept >> 9), C6 = modifier.KeepFactor(Kept >> 12), C7 = modifier.KeepFactor(Kept >> 13),
    };

    /// <summary>
    /// Draws dropout's kept bits (<see cref="Kept"/>) of two tiles, <paramref name="first"/> and <paramref name="second"/>, whose lane (g, 2t) elements are query row
    /// <paramref name="firstRow"/>, key <paramref name="firstKey"/> and <paramref name="secondRow"/>,
    /// <paramref name="secondKey"/> (rows in the log-sum-exp's order at a sequence position g more than a multiple of
    /// 16, keys of the sequence), rows of queries if <paramref name="transposed"/> is false, rows of keys if true (the
    /// backward's Sᵀ: then the row is that of column 2t and the key that of row g). One generator call a lane for both:
    /// <see cref="DrawPair"/>. With <paramref name="paired"/> false (a constant) the second tile is absent (<paramref name="second"/> 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DrawKeep<TModifier>(out uint first, out uint second, TModifier modifier, int firstRow, int firstKey, int secondRow,
        int secondKey, bool transposed, bool paired) where TModifier : struct, IScoreModifier
    {
        second = 0;
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        if (!transposed)
        {
            uint pair = DrawPair(modifier, firstRow, firstKey, secondRow, secondKey, paired) >> (2 * (t & 1));
            first = pair & 0x3333u;
            if (paired)
                second = (pair >> 16) & 0x3333u;
            return;
        }
        // Transposed: lane (g, t) draws row-major, as if it held query rows g, g + 8 and keys 2t, 2t + 1, 2t + 8, 2t + 9
        // of the tile; transposed element (key g + 8h, query 2t + e + 8n) was drawn as query 2t + e (+ 8n), key g (+ 8h),
        // by lane 4(2t + e) + 2⌊g/4⌋ (either of the pair, which hold the same 32 bits), bit 4(2n + h) + g mod 4.
        int shift = g & 3;
        uint drawn = DrawPair(modifier, firstRow - 2 * t + g, firstKey - g + 2 * t, secondRow - 2 * t + g, secondKey - g + 2 * t, paired);
        int source = 8 * t + 2 * (g >> 2);
        uint even = (uint)Warp.Shuffle((int)drawn, source) >> shift, odd = (uint)Warp.Shuffle((int)drawn, source + 4) >> shift;
        first = TransposedBits(even, odd);
        if (paired)
            second = TransposedBits(even >> 16, odd >> 16);
    }

    /// <summary>
    /// The kept bits of the 16 elements lanes (g, t) and (g, t xor 1) hold of a tile, one generator call: the first
    /// tile's (low 16 bits) and the second's (high 16), bit 4w + j for byte j of word w. Lane (g, t) draws the first
    /// tile's call if t is even and the second's if odd (the call covers both lanes' elements of its tile) and the
    /// two swap theirs by one shuffle, so each lane ends up with both. Without a second tile both draw the first's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint DrawPair<TModifier>(TModifier modifier, int firstRow, int firstKey, int secondRow, int secondKey, bool paired)
        where TModifier : struct, IScoreModifier
    {
        // Arithmetic, not selects: ILGPU turns a select on the lane into a branch and copies the generator into both
        // sides, which a warp runs one after the other.
        int second = paired ? Warp.LaneIdx & 1 : 0;
        var words = modifier.DropoutWords(firstRow + second * (secondRow - firstRow), firstKey + second * (secondKey - firstKey));
        uint drawn = modifier.KeptBytes(words.X) | modifier.KeptBytes(words.Y) << 4 | modifier.KeptBytes(words.Z) << 8 | modifier.KeptBytes(words.W) << 12;
        if (!paired)
            return drawn;
        uint other = (uint)Warp.ShuffleXor((int)drawn, 1);
        int shift = 16 * second; // the drawn call's bits go to the half of its tile
        return drawn << shift | other << (16 - shift);
    }

    /// <summary>
    /// <see cref="Kept"/> of a transposed tile from the bits gathered for its even columns (<paramref name="even"/>: C0,
    /// C2, C4, C6 at bits 0, 4, 8, 12) and odd ones (<paramref name="odd"/>: C1, C3, C5, C7).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint TransposedBits(uint even, uint odd)
    {
        uint bits = (even & 0x1111u) | (odd & 0x1111u) << 1; // C2, C3 at 4, 5 and C4, C5 at 8, 9: swap the middle nibbles
        return (bits & 0xF00Fu) | (bits >> 4 & 0x00F0u) | (bits << 4 & 0x0F00u);
    }

    /// <summary>
    /// The backward's softmax gradient on a transposed tile (rows keys, columns queries): this, raw scores Sᵀ, becomes
    /// Pᵀ∘Z (what dV needs) and <paramref name="gradients"/>, dPᵀ, becomes dSᵀ (see <see cref="SoftmaxGradient"/>), with
    /// the statistics of each column's query. <paramref name="column"/> indexes this lane's column 2t in the statistics;
    /// dropout's factors come from <see cref="Kept"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradientByColumn<TModifier>(ref MmaTile gradients, TModifier modifier, ArrayView<float> logSumExp, ArrayView<float> delta,
        int column, float scale) where TModifier : struct, IScoreModifier
    {
        var offsets = ByColumn(logSumExp[column], logSumExp[column + 1], logSumExp[column + 8], logSumExp[column + 9]);
        var deltas = ByColumn(delta[column], delta[column + 1], delta[column + 8], delta[column + 9]);
        SoftmaxGradient(ref gradients, offsets, deltas, scale, modifier.Drops, modifier.Drops ? KeepFactors(modifier) : default);
    }

    /// <summary>
    /// The backward's softmax gradient on a row-major tile (rows queries, columns keys): this, raw scores S, becomes P∘Z
    /// and <paramref name="gradients"/>, dP, becomes dS (see <see cref="SoftmaxGradient"/>). Rows g and g + 8 have
    /// base-2 log-sum-exp <paramref name="lseTop"/>, <paramref name="lseBottom"/> and D <paramref name="deltaTop"/>,
    /// <paramref name="deltaBottom"/>; dropout's factors come from <see cref="Kept"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SoftmaxGradientByRow<TModifier>(ref MmaTile gradients, TModifier modifier, float lseTop, float lseBottom, float deltaTop,
        float deltaBottom, float scale) where TModifier : struct, IScoreModifier =>
        SoftmaxGradient(ref gradients, ByRow(lseTop, lseBottom), ByRow(deltaTop, deltaBottom), scale, modifier.Drops,
            modifier.Drops ? KeepFactors(modifier) : default);

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
}
