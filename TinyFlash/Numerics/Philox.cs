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
    /// The uniform number in [0, 1) of element <paramref name="index"/> of the stream (<paramref name="seed"/>,
    /// <paramref name="offset"/>): word index mod 4 of the counter (index / 4, 0, offset low, offset high) under the
    /// seed as key, its top 24 bits over 2²⁴ (exact in a float).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Uniform(ulong seed, ulong offset, long index)
    {
        var words = Generate((uint)(index >> 2), (uint)(index >> 34), (uint)offset, (uint)(offset >> 32), (uint)seed, (uint)(seed >> 32));
        return ToUniform(Word(words, (int)(index & 3)));
    }

    /// <summary>
    /// The words of elements <paramref name="index"/> … + 3 of the stream (<paramref name="seed"/>,
    /// <paramref name="offset"/>), each the word <see cref="Uniform"/> reads for it: one generator call when
    /// <paramref name="index"/> is a multiple of 4 (the four words of one counter), two otherwise.
    /// <paramref name="aligned"/> (a compile-time constant in the kernels): the caller knows it is a multiple of 4, and
    /// the second call and the word selection are not compiled.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ElementWords(in PhiloxKey seed, ulong offset, long index, bool aligned, out uint w0, out uint w1, out uint w2, out uint w3)
    {
        long quad = index >> 2;
        var words = Generate((uint)quad, (uint)(quad >> 32), (uint)offset, (uint)(offset >> 32), seed);
        int shift = aligned ? 0 : (int)(index & 3);
        if (shift == 0)
        {
            (w0, w1, w2, w3) = (words.X, words.Y, words.Z, words.W);
            return;
        }
        var next = Generate((uint)(quad + 1), (uint)((quad + 1) >> 32), (uint)offset, (uint)(offset >> 32), seed);
        w0 = Word(words, next, shift);
        w1 = Word(words, next, shift + 1);
        w2 = Word(words, next, shift + 2);
        w3 = Word(words, next, shift + 3);
    }

    /// <summary>
    /// The integer form of a dropout test: <c>ToUniform(word) &gt;= p</c> exactly when <c>word &gt;&gt; 8</c> is at
    /// least ⌈p·2²⁴⌉ (the uniform is (word &gt;&gt; 8)/2²⁴, exact, and p·2²⁴ is exact in a double), that is when the
    /// word itself is at least ⌈p·2²⁴⌉·2⁸, this threshold (below 2³² for p &lt; 1): a kernel keeps an element with one
    /// integer comparison and the same bits as the host reference.
    /// </summary>
    public static uint KeepThreshold(float p) => (uint)Math.Ceiling(p * 16777216.0) << 8;

    /// <summary>Whether dropout keeps the element of <paramref name="word"/> (<see cref="KeepThreshold"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Keeps(uint word, uint threshold) => word >= threshold;

    /// <summary>
    /// The four words of attention dropout for the row pair whose top row is <paramref name="topRow"/> (in the
    /// log-sum-exp tensor's order; see <see cref="AttentionPairTop"/>) and key <paramref name="key"/> (counted from its
    /// sequence's first key): counter (2·⌊key/16⌋ + ⌊(key mod 8)/4⌋, top row, offset low, offset high) under the seed's
    /// round keys. The one definition of the stream, which the kernels (through their score modifiers) and the host
    /// reference both read. A call covers 16 elements, one byte each: rows top and top + 8 of the pair, keys 4u … 4u + 3
    /// and 4u + 8 … 4u + 11 of a 16-key block (u = ⌊(key mod 8)/4⌋); word X the top row's first four keys, Y its last
    /// four, Z and W the bottom row's, byte <c>key mod 4</c> (<see cref="AttentionWord"/>). Those are what lanes (g, 2u)
    /// and (g, 2u + 1) of an mma C fragment hold of a 16×16 tile (rows g, g + 8; keys 2t, 2t + 1, 2t + 8, 2t + 9), so
    /// the two lanes of a pair split two tiles' calls and swap halves with one shuffle, and a transposed tile (keys as
    /// rows, the backward's Sᵀ) gathers its bits from the lanes that drew them (see <see cref="TinyFlash.Kernels.TensorCore.Fragments.MmaTile"/>):
    /// half a call a lane's 8 elements, as FlashAttention's mask (also 8 bits an element, 16 a call).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Philox AttentionWords(in PhiloxKey seed, ulong offset, int topRow, int key) =>
        Generate((uint)(2 * (key >> 4) + ((key >> 2) & 1)), (uint)topRow, (uint)offset, (uint)(offset >> 32), seed);

    /// <summary>
    /// The top row of the row pair that query row <paramref name="row"/> at position <paramref name="position"/> of its
    /// sequence belongs to: positions 16n + r and 16n + r + 8 (r &lt; 8) pair up, as rows g and g + 8 of a tile whose
    /// first row is a multiple of 16 in the sequence.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int AttentionPairTop(int row, int position) => row - (position & 8);

    /// <summary>
    /// Word 2·(bottom row) + (key in the upper 8 of its 16) of <paramref name="words"/>: the one whose byte
    /// <c>key mod 4</c> is the element of sequence position <paramref name="position"/> and key <paramref name="key"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint AttentionWord(Philox words, int position, int key) => Word(words, ((position >> 2) & 2) | ((key >> 3) & 1));

    /// <summary>
    /// The integer threshold of attention dropout: a byte b keeps its element when b ≥ ⌈p·2⁸⌉, so the stream drops with
    /// probability <see cref="AttentionDropProbability"/>, p rounded up to a multiple of 2⁻⁸ (256 for p above 255/256:
    /// nothing kept).
    /// </summary>
    public static uint AttentionThreshold(float p) => (uint)Math.Ceiling(p * 256.0);

    /// <summary>
    /// The probability with which the attention stream drops an element when asked for <paramref name="p"/>:
    /// ⌈p·2⁸⌉/2⁸, the 8-bit resolution of FlashAttention's mask (which rounds the keep probability down to a multiple of
    /// 1/255). Kept elements are scaled by 1/(1 − this) (<see cref="AttentionKeepScale"/>), so the mask's expectation
    /// is exactly 1.
    /// </summary>
    public static double AttentionDropProbability(float p) => AttentionThreshold(p) / 256.0;

    /// <summary>The factor of a kept element, 1/(1 − <see cref="AttentionDropProbability"/>) (0 where nothing is kept).</summary>
    public static float AttentionKeepScale(float p) => AttentionThreshold(p) >= 256 ? 0f : (float)(256.0 / (256 - AttentionThreshold(p)));

    /// <summary>
    /// Which of <paramref name="word"/>'s four bytes are at least <paramref name="threshold"/> (below 256): 0x80 in
    /// byte j if byte j is, else 0 (the form a byte permute widens to a mask). Four bytes at once, Hacker's Delight's
    /// unsigned byte comparison: the low seven bits compare by a subtraction that cannot borrow across bytes, the top
    /// bits decide where they differ.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint AttentionKeptBytes(uint word, uint threshold)
    {
        const uint High = 0x80808080u;
        uint repeated = threshold * 0x01010101u;
        uint low = (word | High) - (repeated & ~High);
        return ((word & ~repeated) | (~(word ^ repeated) & low)) & High;
    }

    /// <summary>
    /// Whether attention dropout with probability <paramref name="p"/> keeps the element of query row
    /// <paramref name="row"/> (the log-sum-exp's order), at position <paramref name="position"/> of its sequence, and key
    /// <paramref name="key"/> (see <see cref="AttentionWords"/>): the host reference, one byte compared.
    /// </summary>
    public static bool AttentionKeeps(ulong seed, ulong offset, int row, int position, int key, float p)
    {
        var words = AttentionWords(PhiloxKey.Of(seed), offset, AttentionPairTop(row, position), key);
        uint word = AttentionWord(words, position, key);
        return ((word >> (8 * (key & 3))) & 0xFFu) >= AttentionThreshold(p);
    }

    /// <summary>Word <paramref name="index"/> (0 … 6) of the eight words of two consecutive counters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Word(Philox words, Philox next, int index) =>
        // Selects, not a switch: ILGPU compiles a switch to an indexed branch (brx.idx) per word.
        index < 4 ? Word(words, index) : Word(next, index - 4);

    /// <summary>Word <paramref name="index"/> (0 … 3) of <paramref name="words"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Word(Philox words, int index) =>
        index < 2 ? (index == 0 ? words.X : words.Y) : (index == 2 ? words.Z : words.W);

    /// <summary>A word's top 24 bits over 2²⁴: a uniform number in [0, 1), exact in a float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToUniform(uint word) => (int)(word >> 8) * (1f / 16777216f); // via int: ILGPU converts uint through double

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
