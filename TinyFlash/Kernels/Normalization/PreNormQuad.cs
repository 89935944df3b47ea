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

    /// <summary>Features <paramref name="column"/> … + 3 of the row starting at element <paramref name="origin"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PreNormQuad Load<T, TCodec>(in NormParams<T> p, int origin, int column)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        int left = p.Hidden - column;
        bool whole = p.WholeQuads != 0;
        var quad = new PreNormQuad
        {
            Sum = Read<T, TCodec>(p.X, origin + column, left, whole),
            Keep = Float4.Broadcast(1f),
        };
        if (p.Bias.Length > 0)
            quad.Sum = quad.Sum.Add(Read<T, TCodec>(p.Bias, column, left, whole));
        if (p.DropoutProbability > 0f)
        {
            Philox.Uniforms(p.Seed, p.Offset, (long)origin + column, out float u0, out float u1, out float u2, out float u3);
            float q = p.DropoutProbability, scale = p.KeepScale;
            quad.Keep = new Float4(u0 >= q ? scale : 0f, u1 >= q ? scale : 0f, u2 >= q ? scale : 0f, u3 >= q ? scale : 0f);
            quad.Sum = quad.Sum.Multiply(quad.Keep);
        }
        if (p.Residual.Length > 0)
            quad.Sum = quad.Sum.Add(Read<T, TCodec>(p.Residual, origin + column, left, whole));
        return quad;
    }

    /// <summary>1 for each of a quad's four features inside the row, of which <paramref name="left"/> remain from its first, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 InsideOf(int left) =>
        new(left > 0 ? 1f : 0f, left > 1 ? 1f : 0f, left > 2 ? 1f : 0f, left > 3 ? 1f : 0f);

    /// <summary>
    /// Elements <paramref name="index"/> … + 3 of <paramref name="view"/> in fp32, the first <paramref name="count"/> of
    /// them read (the rest 0). <paramref name="whole"/>: the view's quads are aligned (<see cref="NormParams{T}.WholeQuads"/>),
    /// so a whole quad is one vector load.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 Read<T, TCodec>(ArrayView<T> view, int index, int count, bool whole)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        TCodec codec = default;
        if (whole && count >= 4)
        {
            var elements = view.Cast<Elements4<T>>()[index / 4];
            return new Float4(codec.ToFloat(elements.X), codec.ToFloat(elements.Y), codec.ToFloat(elements.Z), codec.ToFloat(elements.W));
        }
        return new Float4(codec.ToFloat(view[index]),
            count > 1 ? codec.ToFloat(view[index + 1]) : 0f,
            count > 2 ? codec.ToFloat(view[index + 2]) : 0f,
            count > 3 ? codec.ToFloat(view[index + 3]) : 0f);
    }

    /// <summary>
    /// Writes the first <paramref name="count"/> (up to 4) lanes of <paramref name="values"/> to <paramref name="view"/>
    /// from <paramref name="index"/>; a whole quad of an aligned view (<paramref name="whole"/>) in one vector store.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write<T, TCodec>(ArrayView<T> view, int index, int count, Float4 values, bool whole)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        TCodec codec = default;
        if (whole && count >= 4)
        {
            view.Cast<Elements4<T>>()[index / 4] = new Elements4<T>
            {
                X = codec.FromFloat(values.X), Y = codec.FromFloat(values.Y), Z = codec.FromFloat(values.Z), W = codec.FromFloat(values.W),
            };
            return;
        }
        view[index] = codec.FromFloat(values.X);
        if (count > 1)
            view[index + 1] = codec.FromFloat(values.Y);
        if (count > 2)
            view[index + 2] = codec.FromFloat(values.Z);
        if (count > 3)
            view[index + 3] = codec.FromFloat(values.W);
    }
}

/// <summary>Four consecutive storage elements, loaded and stored as one vector (8 bytes in fp16/bf16, 16 in fp32).</summary>
internal struct Elements4<T> where T : unmanaged
{
    public T X, Y, Z, W;
}
