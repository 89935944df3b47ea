using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// Four consecutive features c … c + 3 of one row, the unit both norm kernels work in: the pre-norm sum
/// s = dropout(x + bias) + residual and its derivative ∂s/∂x (the dropout factor: 0, 1/(1 − p), or 1 without
/// dropout); features past the row's end read as 0 and are never written. Four features share one Philox call (its
/// four words), where one feature a thread would spend four.
/// </summary>
internal struct PreNormQuad
{
    public Float4 Sum, Keep;

    /// <summary>
    /// Features <paramref name="column"/> … + 3 of the row starting at element <paramref name="origin"/>;
    /// <paramref name="exact"/> (<see cref="IRowLayout.Exact"/>, a compile-time constant): the quad is inside the row
    /// and aligned, so it is read as vectors and its mask drawn with one Philox call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PreNormQuad Load<T, TCodec>(in NormParams<T> p, int origin, int column, bool exact)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        int left = exact ? 4 : p.Hidden - column;
        bool whole = exact || p.WholeQuads != 0;
        var quad = new PreNormQuad
        {
            Sum = ElementQuads.Read<T, TCodec>(p.X, origin + column, left, whole),
            Keep = Float4.Broadcast(1f),
        };
        if (p.Bias.Length > 0)
            quad.Sum = quad.Sum.Add(ElementQuads.Read<T, TCodec>(p.Bias, column, left, whole));
        if (p.DropoutProbability > 0f)
        {
            Philox.ElementWords(p.Seed, p.Offset, (long)origin + column, exact, out uint w0, out uint w1, out uint w2, out uint w3);
            uint threshold = p.KeepThreshold;
            float scale = p.KeepScale;
            quad.Keep = new Float4(Philox.Keeps(w0, threshold) ? scale : 0f, Philox.Keeps(w1, threshold) ? scale : 0f,
                Philox.Keeps(w2, threshold) ? scale : 0f, Philox.Keeps(w3, threshold) ? scale : 0f);
            quad.Sum = quad.Sum.Multiply(quad.Keep);
        }
        if (p.Residual.Length > 0)
            quad.Sum = quad.Sum.Add(ElementQuads.Read<T, TCodec>(p.Residual, origin + column, left, whole));
        return quad;
    }

    /// <summary>1 for each of a quad's four features inside the row, of which <paramref name="left"/> remain from its first, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 InsideOf(int left) =>
        new(left > 0 ? 1f : 0f, left > 1 ? 1f : 0f, left > 2 ? 1f : 0f, left > 3 ? 1f : 0f);
}
