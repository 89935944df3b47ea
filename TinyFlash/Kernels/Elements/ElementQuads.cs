using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Elements;

/// <summary>
/// Four consecutive elements of a view in fp32, the unit the memory-bound kernels (norm, rotary) move: one vector load
/// or store where the quad is whole and its address aligned to four elements, element by element otherwise.
/// </summary>
internal static class ElementQuads
{
    /// <summary>
    /// Elements <paramref name="index"/> … + 3 of <paramref name="view"/> in fp32, the first <paramref name="count"/> of
    /// them read (the rest 0). <paramref name="whole"/>: the view's quads are aligned (the host checked the views' addresses),
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
