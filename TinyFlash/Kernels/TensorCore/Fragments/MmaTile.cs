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
    /// Dropout's kept bits of this lane's elements, each the sign bit of a byte or of its low nibble, so that one
    /// <see cref="BytePermute"/> widens a pair to the 16-bit mask of its packed register (<see cref="Pack{TElement}(bool)"/>): C0,
    /// C1, C4, C5 at bits 7, 15, 23, 31 and C2, C3, C6, C7 at bits 3, 11, 19, 27.
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

    /// <summary>
    /// The tile rounded to 16 bits as an A fragment (<see cref="Pack{TElement}()"/>), with dropout's mask ANDed in if
    /// <paramref name="dropped"/> (uniform across the group; the packing is shared by both cases): dropped elements become +0, kept ones stay unscaled (the kernels apply
    /// 1/(1 − p) once, to the output or dV). Two instructions a register: one byte permute widening two kept bits
    /// (<see cref="Kept"/>) to 16-bit masks, one AND (FlashAttention likewise masks its 16-bit P).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Fragment Pack<TElement>(bool dropped) where TElement : struct, ITensorElement
    {
        var packed = Pack<TElement>();
        if (!dropped)
            return packed;
        uint low = Kept << 4; // C2, C3, C6, C7 to the bytes' sign bits
        return new Fragment(packed.R0 & BytePermute.Permute(Kept, 0, 0x9988), packed.R1 & BytePermute.Permute(low, 0, 0x9988),
            packed.R2 & BytePermute.Permute(Kept, 0, 0xBBAA), packed.R3 & BytePermute.Permute(low, 0, 0xBBAA));
    }

    /// <summary>Dropout's factors Z of this lane's elements (1/(1 − p) kept, 0 dropped), from <see cref="Kept"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly MmaTile KeepFactors<TModifier>(TModifier modifier) where TModifier : struct, IScoreModifier => new()
    {
        C0 = modifier.KeepFactor(Kept >> 7), C1 = modifier.KeepFactor(Kept >> 15), C4 = modifier.KeepFactor(Kept >> 23), C5 = modifier.KeepFactor(Kept >> 31),
        C2 = modifier.KeepFactor(Kept >> 3), C3 = modifier.KeepFactor(Kept >> 11), C6 = modifier.KeepFactor(Kept >> 19), C7 = modifier.KeepFactor(Kept >> 27),
    };

    /// <summary>
    /// Draws dropout's kept bits (<see cref="Kept"/>) of two tiles, <paramref name="first"/> and <paramref name="second"/>,
    /// whose lane (g, 2t) elements are query row <paramref name="firstRow"/>, key <paramref name="firstKey"/> and
    /// <paramref name="secondRow"/>, <paramref name="secondKey"/> (rows in the log-sum-exp's order at a sequence position g
    /// more than a multiple of 16, keys of the sequence), rows of queries if <paramref name="transposed"/> is false, rows
    /// of keys if true (the backward's Sᵀ: then the row is that of column 2t and the key that of row g). One generator
    /// call a lane for both: lane (g, t) draws the call of the first tile if t is even and of the second if odd, each
    /// call covering the 16 elements lanes (g, t) and (g, t xor 1) hold of its tile (<see cref="Philox.AttentionWords"/>).
    /// The lane picks its tile by arithmetic on its index: a select made ILGPU branch on the lane and copy the generator
    /// into both sides, which a warp runs one after the other. With <paramref name="paired"/> false (a constant) the
    /// second tile is absent (<paramref name="second"/> 0) and both lanes draw the first's call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DrawKeep<TModifier>(out uint first, out uint second, TModifier modifier, int firstRow, int firstKey, int secondRow,
        int secondKey, bool transposed, bool paired) where TModifier : struct, IScoreModifier
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, odd = lane & 1, drawsSecond = paired ? odd : 0;
        second = 0;
        if (!transposed)
        {
            var words = modifier.DropoutWords(firstRow + drawsSecond * (secondRow - firstRow), firstKey + drawsSecond * (secondKey - firstKey));
            uint x = modifier.KeptBytes(words.X), y = modifier.KeptBytes(words.Y), z = modifier.KeptBytes(words.Z), w = modifier.KeptBytes(words.W);
            // This lane's keys are bytes 2·odd and 2·odd + 1 of each word, its neighbour's the other two: rows g (X, Y)
            // to the bytes' sign bits, rows g + 8 (Z, W) to the low nibbles'.
            uint mine = 0x5410u + (uint)odd * 0x2222u, theirs = 0x7632u - (uint)odd * 0x2222u;
            uint own = BytePermute.Permute(x, y, mine) | BytePermute.Permute(z, w, mine) >> 4;
            first = own;
            if (!paired)
                return;
            uint other = (uint)Warp.ShuffleXor((int)(BytePermute.Permute(x, y, theirs) | BytePermute.Permute(z, w, theirs) >> 4), 1);
            uint swap = (own ^ other) & (0u - (uint)odd); // an odd lane drew the second tile's call
            first = own ^ swap;
            second = other ^ swap;
            return;
        }
        // Transposed: lane (g, t) draws row-major, as if it held query rows g, g + 8 and keys 2t, 2t + 1, 2t + 8, 2t + 9
        // of its tile; transposed element (key g + 8h, query 2t + e + 8n) was drawn as query 2t + e (+ 8n), key g (+ 8h),
        // by lane 4(2t + e) + 2⌊g/4⌋ + (the tile's parity), byte g mod 4 of word X, Y, Z or W for (n, h) = (0, 0), (0, 1),
        // (1, 0), (1, 1). Each lane publishes its call's 16 bits, byte j's low nibble the sign bits of X, Z, Y, W.
        var drawn = modifier.DropoutWords(firstRow - 2 * t + g + drawsSecond * (secondRow - firstRow), firstKey - g + 2 * t + drawsSecond * (secondKey - firstKey));
        uint published = modifier.KeptBytes(drawn.X) >> 7 | modifier.KeptBytes(drawn.Z) >> 6 | modifier.KeptBytes(drawn.Y) >> 5 | modifier.KeptBytes(drawn.W) >> 4;
        int source = 8 * t + 2 * (g >> 2), shift = 8 * (g & 3);
        first = TransposedKept((uint)Warp.Shuffle((int)published, source) >> shift, (uint)Warp.Shuffle((int)published, source + 4) >> shift);
        if (paired)
            second = TransposedKept((uint)Warp.Shuffle((int)published, source + 1) >> shift, (uint)Warp.Shuffle((int)published, source + 5) >> shift);
    }

    /// <summary>
    /// <see cref="Kept"/> of a transposed tile from the nibbles gathered for its even columns (<paramref name="even"/>:
    /// C0, C4, C2, C6 at bits 0-3) and odd ones (<paramref name="odd"/>: C1, C5, C3, C7): one multiply places each
    /// nibble's four bits at 7, 23, 3, 19 (the products' other terms land on distinct bits, so nothing carries).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint TransposedKept(uint even, uint odd)
    {
        const uint Spread = (1u << 7) | (1u << 22) | (1u << 1) | (1u << 16);
        return ((even & 0xFu) * Spread & 0x00880088u) | ((odd & 0xFu) * (Spread << 8) & 0x88008800u);
    }

    /// <summary>
    /// The backward's softmax gradient on a transposed tile (rows keys, columns queries): this, raw scores Sᵀ, becomes
    /// Pᵀ (dV's operand, dropout's mask ANDed in when packed: <see cref="Pack{TElement}(bool)"/>) and <paramref name="gradients"/>, dPᵀ, becomes dSᵀ (see <see cref="SoftmaxGradient"/>), with
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
    /// The backward's softmax gradient on a row-major tile (rows queries, columns keys): this, raw scores S, becomes P
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
    /// P = 2^(score·<paramref name="scale"/> − offset) and gradients (dP) becomes dS = P∘(dP∘Z − D).
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
