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
        where TCodec : struct, IElementCodec<T> =>
        ToFloat<T, TCodec>(Fetch(view, index, count, whole));

    /// <summary>
    /// Elements <paramref name="index"/> … + 3 of <paramref name="view"/> as stored, the first <paramref name="count"/>
    /// of them read (the rest zero bits, 0 in every storage type; nothing read when <paramref name="count"/> is 0 or
    /// less). Kernels fetch every quad they need first and convert them after (<see cref="ToFloat"/>), so that a thread's
    /// loads are all in flight before the first of them is used.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Elements4<T> Fetch<T>(ArrayView<T> view, int index, int count, bool whole) where T : unmanaged
    {
        if (whole && count >= 4)
            return view.Cast<Elements4<T>>()[index / 4];
        var elements = default(Elements4<T>);
        if (count > 0)
            elements.X = view[index];
        if (count > 1)
            elements.Y = view[index + 1];
        if (count > 2)
            elements.Z = view[index + 2];
        if (count > 3)
            elements.W = view[index + 3];
        return elements;
    }

    /// <summary>A fetched quad in fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 ToFloat<T, TCodec>(Elements4<T> elements)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        TCodec codec = default;
        return new Float4(codec.ToFloat(elements.X), codec.ToFloat(elements.Y), codec.ToFloat(elements.Z), codec.ToFloat(elements.W));
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
