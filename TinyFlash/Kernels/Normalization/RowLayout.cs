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
}

/// <summary>hidden = 4·K·G, views aligned: no checks.</summary>
internal readonly struct ExactRow : IRowLayout
{
    public bool Exact => true;
}

/// <summary>Any hidden size and alignment.</summary>
internal readonly struct CheckedRow : IRowLayout
{
    public bool Exact => false;
}
