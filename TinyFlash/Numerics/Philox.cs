using System.Runtime.CompilerServices;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Numerics;

/// <summary>
/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the generator of cuRAND and
/// PyTorch's dropout): four 32-bit words from a 128-bit counter and a 64-bit key, in ten rounds of multiply-high,
/// xor and key bumps. Counter-based, so any element's random number is computed where it is needed, from its index:
/// dropout masks are never stored, and the backward pass regenerates the forward's. Integer arithmetic only, so
/// kernels on every backend and the host produce the same bits.
/// </summary>
internal readonly struct Philox
{
    private const uint M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;

    /// <summary>The four output words.</summary>
    public readonly uint X, Y, Z, W;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Philox(uint x, uint y, uint z, uint w)
    {
        X = x;
        Y = y;
        Z = z;
        W = w;
    }

    /// <summary>Philox4x32-10 of counter (<paramref name="c0"/> … <paramref name="c3"/>) under key (<paramref name="k0"/>, <paramref name="k1"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Philox Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1) => Generate(c0, c1, c2, c3, PhiloxKey.Of(k0, k1));

    /// <summary>Philox4x32-10 of counter (<paramref name="c0"/> … <paramref name="c3"/>) under a key's round keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Philox Generate(uint c0, uint c1, uint c2, uint c3, in PhiloxKey key)
    {
        // Ten rounds, written out (ILGPU does not unroll loops).
        Round(ref c0, ref c1, ref c2, ref c3, key.Low0, key.High0);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low1, key.High1);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low2, key.High2);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low3, key.High3);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low4, key.High4);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low5, key.High5);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low6, key.High6);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low7, key.High7);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low8, key.High8);
        Round(ref c0, ref c1, ref c2, ref c3, key.Low9, key.High9);
        return new Philox(c0, c1, c2, c3);
    }

    /// <summary>
    /// The four words of the fused norm's dropout for elements 8·<paramref name="octet"/> … + 7 of the stream
    /// (<paramref name="seed"/>, <paramref name="offset"/>), element e being row·hidden + feature: counter (octet low,
    /// octet high, offset low, offset high) under the seed's round keys. Element e takes half e mod 2 (low, high) of word
    /// ⌊e/2⌋ mod 4 (<see cref="NormKeeps"/>), so one call covers two quads of four features: the kernels' neighbouring
    /// lanes hold them, and one lane draws for both (16 bits an element, as attention's; FlashAttention: 8).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Philox NormWords(in PhiloxKey seed, ulong offset, long octet) =>
        Generate((uint)octet, (uint)(octet >> 32), (uint)offset, (uint)(offset >> 32), seed);

    /// <summary>
    /// Whether the fused norm's dropout with probability <paramref name="p"/> keeps element <paramref name="element"/>
    /// of the stream (<paramref name="seed"/>, <paramref name="offset"/>; <see cref="NormWords"/>): the host reference.
    /// </summary>
    public static bool NormKeeps(ulong seed, ulong offset, long element, float p)
    {
        uint word = Word(NormWords(PhiloxKey.Of(seed), offset, element >> 3), (int)((element >> 1) & 3));
        uint threshold = HalfThreshold(p);
        return (element & 1) == 0 ? KeepsLow(word, threshold) : KeepsHigh(word, threshold);
    }

    /// <summary>
    /// The kept bits of a quad of the norm's stream, four features from element <paramref name="element"/> (bit i:
    /// element + i kept), under <paramref name="threshold"/> (<see cref="HalfThreshold"/>). <paramref name="aligned"/> (a
    /// compile-time constant in the kernels): the element is a multiple of 4, so the quad is half of one octet, one call;
    /// otherwise it may straddle two, and both are drawn.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NormKeptBits(in PhiloxKey seed, ulong offset, long element, uint threshold, bool aligned)
    {
        long octet = element >> 3;
        var words = NormWords(seed, offset, octet);
        if (aligned)
            return (element & 4) == 0 ? KeptBits(words.X, words.Y, threshold) : KeptBits(words.Z, words.W, threshold);
        var next = NormWords(seed, offset, octet + 1);
        int first = (int)(element & 7), bits = 0;
        for (int i = 0; i < 4; i++)
        {
            // Selects, not a switch: ILGPU compiles a switch to an indexed branch (brx.idx) per word.
            int half = first + i;
            uint word = Word(words, next, half >> 1);
            bits |= ((half & 1) == 0 ? KeepsLow(word, threshold) : KeepsHigh(word, threshold)) ? 1 << i : 0;
        }
        return bits;
    }

    /// <summary>
    /// The kept bits of the four elements whose halves are <paramref name="low"/>'s and then <paramref name="high"/>'s
    /// (bit 0: the low half of <paramref name="low"/>, … bit 3: the high half of <paramref name="high"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int KeptBits(uint low, uint high, uint threshold) =>
        (KeepsLow(low, threshold) ? 1 : 0) | (KeepsHigh(low, threshold) ? 2 : 0) | (KeepsLow(high, threshold) ? 4 : 0) | (KeepsHigh(high, threshold) ? 8 : 0);

    /// <summary>
    /// The four words of attention dropout for query row <paramref name="row"/> (in the log-sum-exp tensor's order)
    /// and key <paramref name="key"/> (counted from its sequence's first key): counter (4·⌊key/32⌋ + ⌊(key mod 8)/2⌋,
    /// row, offset low, offset high) under the seed's round keys. The one definition of the stream, which the kernels
    /// (through their score modifiers) and the host reference both read. Element (row, key) takes half
    /// <c>key mod 2</c> (low, high) of word ⌊(key mod 32)/8⌋ (<see cref="AttentionKeeps"/>): one call covers keys
    /// 2t, 2t + 1, 2t + 8, 2t + 9, …, 2t + 25 of a 32-key block (t = ⌊(key mod 8)/2⌋), the eight elements of one row
    /// that lane t of two mma C fragments side by side holds (FlashAttention's mask is likewise laid out for its
    /// fragments, at 8 bits an element; here 16).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Philox AttentionWords(in PhiloxKey seed, ulong offset, int row, int key) =>
        Generate((uint)(4 * (key >> 5) + ((key & 7) >> 1)), (uint)row, (uint)offset, (uint)(offset >> 32), seed);

    /// <summary>Word ⌊(<paramref name="key"/> mod 32)/8⌋ of <paramref name="words"/>: the one whose halves are keys <paramref name="key"/> and its odd or even neighbour.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint AttentionWord(Philox words, int key) => Word(words, (key & 31) >> 3);

    /// <summary>
    /// The integer threshold of dropout drawn 16 bits an element (attention's and the norm's): a 16-bit half h keeps its
    /// element when h ≥ ⌈p·2¹⁶⌉, that is when h/2¹⁶ ≥ p exactly (p·2¹⁶ is exact): p applies at a resolution of 2⁻¹⁶,
    /// the kept fraction within 1.6·10⁻⁵ of 1 − p.
    /// </summary>
    public static uint HalfThreshold(float p) => (uint)Math.Ceiling(p * 65536.0);

    /// <summary>Whether the low half of <paramref name="word"/> (the even key) is kept under <paramref name="threshold"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool KeepsLow(uint word, uint threshold) => (word & 0xFFFFu) >= threshold;

    /// <summary>Whether the high half of <paramref name="word"/> (the odd key) is kept under <paramref name="threshold"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool KeepsHigh(uint word, uint threshold) => (word >> 16) >= threshold;

    /// <summary>
    /// Whether attention dropout with probability <paramref name="p"/> keeps the element of query row
    /// <paramref name="row"/> and key <paramref name="key"/> (see <see cref="AttentionWords"/>): the host reference.
    /// </summary>
    public static bool AttentionKeeps(ulong seed, ulong offset, int row, int key, float p)
    {
        uint word = AttentionWord(AttentionWords(PhiloxKey.Of(seed), offset, row, key), key);
        uint threshold = HalfThreshold(p);
        return (key & 1) == 0 ? KeepsLow(word, threshold) : KeepsHigh(word, threshold);
    }

    /// <summary>Word <paramref name="index"/> (0 … 7) of the eight words of two consecutive counters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Word(Philox words, Philox next, int index) =>
        // Selects, not a switch: ILGPU compiles a switch to an indexed branch (brx.idx) per word.
        index < 4 ? Word(words, index) : Word(next, index - 4);

    /// <summary>Word <paramref name="index"/> (0 … 3) of <paramref name="words"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Word(Philox words, int index) =>
        index < 2 ? (index == 0 ? words.X : words.Y) : (index == 2 ? words.Z : words.W);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(ref uint c0, ref uint c1, ref uint c2, ref uint c3, uint k0, uint k1)
    {
        MultiplyWide(M0, c0, out uint hi0, out uint lo0);
        MultiplyWide(M1, c2, out uint hi1, out uint lo1);
        uint next0 = hi1 ^ c1 ^ k0, next2 = hi0 ^ c3 ^ k1;
        c0 = next0;
        c1 = lo1;
        c2 = next2;
        c3 = lo0;
    }

    /// <summary>
    /// The 64-bit product <paramref name="a"/>·<paramref name="b"/> as its high and low words. On CUDA one
    /// <c>mul.wide.u32</c> (one <c>IMAD.WIDE.U32</c>, where a <c>mul.hi</c> and a <c>mul.lo</c> were two: Nsight Compute on
    /// the H200, 2026-12-03, 40 of a call's ~100 instructions). ILGPU compiles the portable form to a 64 × 64-bit
    /// multiply, several instructions, which made the generator dominate every kernel with dropout on the H100.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MultiplyWide(uint a, uint b, out uint high, out uint low)
    {
        ulong product;
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("mul.wide.u32 %0, %1, %2;", out product, a, b);
        else
            product = (ulong)a * b;
        high = (uint)(product >> 32);
        low = (uint)product;
    }
}

/// <summary>
/// The ten round keys of a Philox4x32-10 key (k0 + i·W0, k1 + i·W1 for round i): computed once where a kernel's key is
/// a parameter (the fused norm's), so that each round xors a kernel constant (on CUDA an operand straight from the
/// constant bank) instead of bumping the key in registers, 18 additions a call (Nsight Compute on the H200,
/// 2026-12-03). Kernels whose key is computed on the device (attention's) build it inline, the same additions as before.
/// </summary>
internal struct PhiloxKey
{
    private const uint W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

    public uint Low0, High0, Low1, High1, Low2, High2, Low3, High3, Low4, High4, Low5, High5, Low6, High6, Low7, High7, Low8, High8, Low9, High9;

    /// <summary>The round keys of (<paramref name="k0"/>, <paramref name="k1"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PhiloxKey Of(uint k0, uint k1) => unchecked(new PhiloxKey
    {
        Low0 = k0, High0 = k1, Low1 = k0 + W0, High1 = k1 + W1, Low2 = k0 + 2 * W0, High2 = k1 + 2 * W1,
        Low3 = k0 + 3 * W0, High3 = k1 + 3 * W1, Low4 = k0 + 4 * W0, High4 = k1 + 4 * W1, Low5 = k0 + 5 * W0, High5 = k1 + 5 * W1,
        Low6 = k0 + 6 * W0, High6 = k1 + 6 * W1, Low7 = k0 + 7 * W0, High7 = k1 + 7 * W1, Low8 = k0 + 8 * W0, High8 = k1 + 8 * W1,
        Low9 = k0 + 9 * W0, High9 = k1 + 9 * W1,
    });

    /// <summary>The round keys of a 64-bit seed (low word first).</summary>
    public static PhiloxKey Of(ulong seed) => Of((uint)seed, (uint)(seed >> 32));
}
