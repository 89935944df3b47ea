using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// Four consecutive features c … c + 3 of one row, the unit both norm kernels work in: the pre-norm sum
/// s = dropout(x + bias) + residual and which of its features dropout kept (all without dropout), from which
/// ∂s/∂x = kept·1/(1 − p) (<see cref="Factors"/>), computed from its fetched <see cref="PreNormInputs{T}"/>; features
/// past the row's end read as 0 and are never written. Four features share one Philox call (its four words), where one
/// feature a thread would spend four.
/// </summary>
internal struct PreNormQuad
{
    public Float4 Sum;

    /// <summary>Bit i: feature c + i kept (four bits, one register where four factors would take four).</summary>
    public int Kept;

    /// <summary>
    /// The quad of features <paramref name="column"/> … + 3 of the row starting at element <paramref name="origin"/>,
    /// from its fetched <paramref name="inputs"/>; on an exact row (<typeparamref name="TLayout"/>) the quad is aligned,
    /// so its mask is one Philox call. <paramref name="dropout"/>: p &gt; 0, a compile-time constant (callers test p once
    /// for all their quads, so that the quads' Philox calls are one block of code that the compiler can interleave, where
    /// a test a quad made each call its own block, run one after another). <paramref name="keyInRegisters"/> (a
    /// compile-time constant): the round keys are bumped in registers from the first instead of read from the
    /// parameters, the same keys, where a register-limited kernel (the backward's row pass) would otherwise spill them
    /// (ptxas, H200 run of 2026-12-03: 32-96 bytes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PreNormQuad From<T, TCodec, TLayout>(in NormParams<T> p, in PreNormInputs<T> inputs, int origin, int column, bool dropout, bool keyInRegisters = false)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
        where TLayout : struct, IRowLayout
    {
        var quad = new PreNormQuad { Kept = 0b1111 };
        var factors = Float4.Broadcast(1f);
        if (dropout)
        {
            var key = keyInRegisters ? PhiloxKey.Of(p.Key.Low0, p.Key.High0) : p.Key;
            Philox.ElementWords(key, p.Offset, (long)origin + column, default(TLayout).Exact, out uint w0, out uint w1, out uint w2, out uint w3);
            uint threshold = p.KeepThreshold;
            bool k0 = Philox.Keeps(w0, threshold), k1 = Philox.Keeps(w1, threshold), k2 = Philox.Keeps(w2, threshold), k3 = Philox.Keeps(w3, threshold);
            float scale = p.KeepScale;
            factors = new Float4(k0 ? scale : 0f, k1 ? scale : 0f, k2 ? scale : 0f, k3 ? scale : 0f);
            quad.Kept = (k0 ? 1 : 0) | (k1 ? 2 : 0) | (k2 ? 4 : 0) | (k3 ? 8 : 0);
        }
        // s = factor·(x + bias) + residual, one fused multiply-add an element (absent inputs fetched as 0)
        var x = ElementQuads.ToFloat<T, TCodec>(inputs.X).Add(ElementQuads.ToFloat<T, TCodec>(inputs.Bias));
        quad.Sum = x.TimesPlus(factors, ElementQuads.ToFloat<T, TCodec>(inputs.Residual));
        return quad;
    }

    /// <summary>∂s/∂x of the four features: <paramref name="scale"/> (1/(1 − p), 1 without dropout) where kept, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 Factors(int kept, float scale) =>
        new((kept & 1) != 0 ? scale : 0f, (kept & 2) != 0 ? scale : 0f, (kept & 4) != 0 ? scale : 0f, (kept & 8) != 0 ? scale : 0f);

    /// <summary>1 for each of a quad's four features inside the row, of which <paramref name="left"/> remain from its first, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 InsideOf(int left) =>
        new(left > 0 ? 1f : 0f, left > 1 ? 1f : 0f, left > 2 ? 1f : 0f, left > 3 ? 1f : 0f);
}
