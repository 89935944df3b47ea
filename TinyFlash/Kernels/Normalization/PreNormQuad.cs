using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// Four consecutive features c … c + 3 of one row, the unit both norm kernels work in: the pre-norm sum
/// s = dropout(x + bias) + residual, its derivative ∂s/∂x (the dropout factor: 0, 1/(1 − p), or 1 without dropout),
/// and which of the four lie inside the row (1, else 0: those past its end read as 0 and are never written). Four
/// features share one Philox call (its four words), where one feature a thread would spend four.
/// </summary>
internal struct PreNormQuad
{
    public Float4 Sum, Keep, Inside;

    /// <summary>Features inside the row, 1 … 4.</summary>
    public readonly float Count => Inside.SumLanes();

    /// <summary>Features <paramref name="column"/> … + 3 of the row starting at element <paramref name="origin"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PreNormQuad Load<T, TCodec>(in NormParams<T> p, int origin, int column)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        int left = p.Hidden - column;
        var quad = new PreNormQuad
        {
            Inside = new Float4(1f, left > 1 ? 1f : 0f, left > 2 ? 1f : 0f, left > 3 ? 1f : 0f),
            Sum = Read<T, TCodec>(p.X, origin + column, left),
            Keep = Float4.Broadcast(1f),
        };
        if (p.Bias.Length > 0)
            quad.Sum = quad.Sum.Add(Read<T, TCodec>(p.Bias, column, left));
        if (p.DropoutProbability > 0f)
        {
            Philox.Uniforms(p.Seed, p.Offset, (long)origin + column, out float u0, out float u1, out float u2, out float u3);
            float q = p.DropoutProbability, scale = p.KeepScale;
            quad.Keep = new Float4(u0 >= q ? scale : 0f, u1 >= q ? scale : 0f, u2 >= q ? scale : 0f, u3 >= q ? scale : 0f);
            quad.Sum = quad.Sum.Multiply(quad.Keep);
        }
        if (p.Residual.Length > 0)
            quad.Sum = quad.Sum.Add(Read<T, TCodec>(p.Residual, origin + column, left));
        return quad;
    }

    /// <summary>Elements <paramref name="index"/> … + 3 of <paramref name="view"/> in fp32, the first <paramref name="count"/> of them read (the rest 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 Read<T, TCodec>(ArrayView<T> view, int index, int count)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        TCodec codec = default;
        return new Float4(codec.ToFloat(view[index]),
            count > 1 ? codec.ToFloat(view[index + 1]) : 0f,
            count > 2 ? codec.ToFloat(view[index + 2]) : 0f,
            count > 3 ? codec.ToFloat(view[index + 3]) : 0f);
    }

    /// <summary>Writes the first <paramref name="count"/> (up to 4) lanes of <paramref name="values"/> to <paramref name="view"/> from <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write<T, TCodec>(ArrayView<T> view, int index, int count, Float4 values)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        TCodec codec = default;
        view[index] = codec.FromFloat(values.X);
        if (count > 1)
            view[index + 1] = codec.FromFloat(values.Y);
        if (count > 2)
            view[index + 2] = codec.FromFloat(values.Z);
        if (count > 3)
            view[index + 3] = codec.FromFloat(values.W);
    }
}
