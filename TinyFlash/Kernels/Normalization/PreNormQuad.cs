using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// Four consecutive features c … c + 3 of one row, the unit both norm kernels work in: the pre-norm sum
/// s = dropout(x + bias) + residual and which of its features dropout kept (all without dropout), from which
/// ∂s/∂x = kept·1/(1 − p) (<see cref="Factors"/>); features past the row's end read as 0 and are never written. Four
/// features share one Philox call (its four words), where one feature a thread would spend four.
/// </summary>
internal struct PreNormQuad
{
    public Float4 Sum;

    /// <summary>Bit i: feature c + i kept (four bits, one register where four factors would take four).</summary>
    public int Kept;

    /// <summary>
    /// Features <paramref name="column"/> … + 3 of the row starting at element <paramref name="origin"/>; on an exact
    /// row (<typeparamref name="TLayout"/>) the quad is inside the row and aligned, so it is read as vectors and its
    /// mask drawn with one Philox call. <paramref name="keyInRegisters"/> (a compile-time constant): the round keys are
    /// bumped in registers from the first instead of read from the parameters, the same keys, where a register-limited
    /// kernel (the backward's row pass) would otherwise spill them (ptxas, H200 run of 2026-12-03: 32-96 bytes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PreNormQuad Load<T, TCodec, TLayout>(in NormParams<T> p, int origin, int column, bool keyInRegisters = false)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
        where TLayout : struct, IRowLayout
    {
        TLayout layout = default;
        int left = layout.Left(p.Hidden, column);
        bool whole = layout.Whole(p.WholeQuads);
        var quad = new PreNormQuad
        {
            Sum = ElementQuads.Read<T, TCodec>(p.X, origin + column, left, whole),
            Kept = 0b1111,
        };
        if (p.Bias.Length > 0)
            quad.Sum = quad.Sum.Add(ElementQuads.Read<T, TCodec>(p.Bias, column, left, whole));
        var factors = Float4.Broadcast(1f);
        if (p.DropoutProbability > 0f)
        {
            var key = keyInRegisters ? PhiloxKey.Of(p.Key.Low0, p.Key.High0) : p.Key;
            Philox.ElementWords(key, p.Offset, (long)origin + column, layout.Exact, out uint w0, out uint w1, out uint w2, out uint w3);
            uint threshold = p.KeepThreshold;
            bool k0 = Philox.Keeps(w0, threshold), k1 = Philox.Keeps(w1, threshold), k2 = Philox.Keeps(w2, threshold), k3 = Philox.Keeps(w3, threshold);
            float scale = p.KeepScale;
            factors = new Float4(k0 ? scale : 0f, k1 ? scale : 0f, k2 ? scale : 0f, k3 ? scale : 0f);
            quad.Kept = (k0 ? 1 : 0) | (k1 ? 2 : 0) | (k2 ? 4 : 0) | (k3 ? 8 : 0);
        }
        // s = factor·(x + bias) + residual, one fused multiply-add an element (the residual 0 when absent)
        var residual = p.Residual.Length > 0 ? ElementQuads.Read<T, TCodec>(p.Residual, origin + column, left, whole) : default;
        quad.Sum = quad.Sum.TimesPlus(factors, residual);
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
