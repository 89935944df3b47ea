namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// How a norm kernel's threads cover a row, fixed when the kernel is compiled. An exact row is one chunk of whole,
/// aligned quads: hidden = 4·K·G and every view aligned to four elements, so the kernel compiles no bounds checks, no
/// element-by-element path and one Philox call a quad. Any other row (a tail, several chunks, unaligned views) takes
/// the checked code.
/// </summary>
internal interface IRowLayout
{
    /// <summary>Whether every quad a thread holds lies inside the row and is one aligned vector.</summary>
    bool Exact { get; }

    /// <summary>
    /// Features of the row from the quad at <paramref name="column"/> on, as far as the quad is concerned: 4 on an
    /// exact row, else <paramref name="hidden"/> − <paramref name="column"/> (0 or less past the row's end).
    /// </summary>
    int Left(int hidden, int column);

    /// <summary>Whether quads move as vectors: always on an exact row, else where the host found the views aligned.</summary>
    bool Whole(int wholeQuads);
}

/// <summary>hidden = 4·K·G, views aligned: no checks.</summary>
internal readonly struct ExactRow : IRowLayout
{
    public bool Exact => true;

    public int Left(int hidden, int column) => 4;

    public bool Whole(int wholeQuads) => true;
}

/// <summary>Any hidden size and alignment.</summary>
internal readonly struct CheckedRow : IRowLayout
{
    public bool Exact => false;

    public int Left(int hidden, int column) => hidden - column;

    public bool Whole(int wholeQuads) => wholeQuads != 0;
}
