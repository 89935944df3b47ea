using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// Four consecutive features c … c + 3 of one row, the unit both norm kernels work in: the pre-norm sum
/// s = dropout(x + bias) + residual from the quad's fetched <see cref="PreNormInputs{T}"/> and the features dropout kept
/// (<see cref="IMaskedQuad.Kept"/>, drawn by <see cref="DrawMask{TState, TSum, TLayout}"/>; all without dropout), from
/// which ∂s/∂x = kept·1/(1 − p) (<see cref="Factors"/>); features past the row's end read as 0 and are never written.
/// </summary>
internal static class PreNormQuad
{
    /// <summary>
    /// s of a quad from its fetched <paramref name="inputs"/> and <paramref name="kept"/> features.
    /// <paramref name="dropout"/>: p &gt; 0, a compile-time constant (callers test p once for all their quads, so that
    /// the quads' draws are one block of code that the compiler can interleave, where a test a quad made each its own
    /// block, run one after another).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 Sum<T, TCodec>(in NormParams<T> p, in PreNormInputs<T> inputs, int kept, bool dropout)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        var factors = dropout ? Factors(kept, p.KeepScale) : Float4.Broadcast(1f);
        // s = factor·(x + bias) + residual, one fused multiply-add an element (absent inputs fetched as 0)
        var x = ElementQuads.ToFloat<T, TCodec>(inputs.X).Add(ElementQuads.ToFloat<T, TCodec>(inputs.Bias));
        return x.TimesPlus(factors, ElementQuads.ToFloat<T, TCodec>(inputs.Residual));
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
