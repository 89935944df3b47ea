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
    private const uint M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

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
    public static Philox Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        // Ten rounds, written out (ILGPU does not unroll loops); the key is bumped between rounds.
        Round(ref c0, ref c1, ref c2, ref c3, k0, k1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 += W0, k1 += W1);
        Round(ref c0, ref c1, ref c2, ref c3, k0 + W0, k1 + W1);
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
    public static void ElementWords(ulong seed, ulong offset, long index, bool aligned, out uint w0, out uint w1, out uint w2, out uint w3)
    {
        long quad = index >> 2;
        var words = Generate((uint)quad, (uint)(quad >> 32), (uint)offset, (uint)(offset >> 32), (uint)seed, (uint)(seed >> 32));
        int shift = aligned ? 0 : (int)(index & 3);
        if (shift == 0)
        {
            (w0, w1, w2, w3) = (words.X, words.Y, words.Z, words.W);
            return;
        }
        var next = Generate((uint)(quad + 1), (uint)((quad + 1) >> 32), (uint)offset, (uint)(offset >> 32), (uint)seed, (uint)(seed >> 32));
        w0 = Word(words, next, shift);
        w1 = Word(words, next, shift + 1);
        w2 = Word(words, next, shift + 2);
        w3 = Word(words, next, shift + 3);
    }

    /// <summary>
    /// The integer form of a dropout test: <c>ToUniform(word) &gt;= p</c> exactly when <c>word &gt;&gt; 8</c> is at
    /// least this threshold, ⌈p·2²⁴⌉ (the uniform is (word &gt;&gt; 8)/2²⁴, exact, and p·2²⁴ is exact in a double), so
    /// a kernel keeps an element with one integer comparison and the same bits as the host reference.
    /// </summary>
    public static uint KeepThreshold(float p) => (uint)Math.Ceiling(p * 16777216.0);

    /// <summary>Whether dropout keeps the element of <paramref name="word"/> (<see cref="KeepThreshold"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Keeps(uint word, uint threshold) => word >> 8 >= threshold;

    /// <summary>
    /// The uniform numbers of attention dropout for query row <paramref name="row"/> and keys <paramref name="key"/> …
    /// + 3, each what <see cref="AttentionUniform"/> gives it: one generator call when <paramref name="key"/> is a
    /// multiple of 4, two when the keys straddle two counters (a packed sequence starting off a multiple of 4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AttentionUniforms(ulong seed, ulong offset, int row, int key, out float u0, out float u1, out float u2, out float u3)
    {
        uint quad = (uint)key >> 2;
        int shift = key & 3;
        var words = AttentionWords(seed, offset, row, quad);
        var next = shift == 0 ? words : AttentionWords(seed, offset, row, quad + 1);
        Spread(words, next, shift, out u0, out u1, out u2, out u3);
    }

    /// <summary>The uniforms of words <paramref name="shift"/> … + 3 of the eight words of two consecutive counters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Spread(Philox words, Philox next, int shift, out float u0, out float u1, out float u2, out float u3)
    {
        u0 = ToUniform(Word(words, next, shift));
        u1 = ToUniform(Word(words, next, shift + 1));
        u2 = ToUniform(Word(words, next, shift + 2));
        u3 = ToUniform(Word(words, next, shift + 3));
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

    /// <summary>
    /// The uniform number of attention dropout for query row <paramref name="row"/> (in the log-sum-exp tensor's
    /// order) and key position <paramref name="key"/>: word key mod 4 of the counter (key / 4, row, offset low, offset
    /// high), so four consecutive keys from a multiple of 4 share one generator call.
    /// </summary>
    public static float AttentionUniform(ulong seed, ulong offset, int row, int key)
    {
        return ToUniform(Word(AttentionWords(seed, offset, row, (uint)key >> 2), key & 3));
    }

    /// <summary>
    /// The four words of attention dropout for query row <paramref name="row"/> and keys 4·<paramref name="quad"/> …
    /// + 3: counter (quad, row, offset low, offset high) under the seed. The one definition of the stream, which the
    /// kernels (through their score modifiers) and the host reference both read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Philox AttentionWords(ulong seed, ulong offset, int row, uint quad) =>
        Generate(quad, (uint)row, (uint)offset, (uint)(offset >> 32), (uint)seed, (uint)(seed >> 32));

    /// <summary>A word's top 24 bits over 2²⁴: a uniform number in [0, 1), exact in a float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToUniform(uint word) => (int)(word >> 8) * (1f / 16777216f); // via int: ILGPU converts uint through double

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(ref uint c0, ref uint c1, ref uint c2, ref uint c3, uint k0, uint k1)
    {
        uint hi0 = MultiplyHigh(M0, c0), lo0 = M0 * c0;
        uint hi1 = MultiplyHigh(M1, c2), lo1 = M1 * c2;
        uint next0 = hi1 ^ c1 ^ k0, next2 = hi0 ^ c3 ^ k1;
        c0 = next0;
        c1 = lo1;
        c2 = next2;
        c3 = lo0;
    }

    /// <summary>
    /// The high 32 bits of the 64-bit product <paramref name="a"/>·<paramref name="b"/>. On CUDA one <c>mul.hi.u32</c>:
    /// ILGPU compiles the 64-bit product of the portable form to a 64 × 64-bit multiply, several instructions, which made
    /// the generator dominate every kernel with dropout (Nsight Compute on the H100: the fused norm issue-bound at 171
    /// instructions an element).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint MultiplyHigh(uint a, uint b)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("mul.hi.u32 %0, %1, %2;", out uint high, a, b);
            return high;
        }
        return (uint)(((ulong)a * b) >> 32);
    }
}
