using ILGPU;
using TinyFlash.Kernels.Forward;

namespace TinyFlash.Kernels.Rotary;

/// <summary>
/// The argument of <see cref="RotaryQkvSplitKernel{T, TCodec}"/>: the packed projection [B, S, (Hq + 2·Hkv)·d], the three
/// outputs with the strides of the attention layout, and the rotation.
/// </summary>
internal struct RotaryParams<T> where T : unmanaged
{
    public ArrayView<T> Qkv, Query, Key, Value;

    /// <summary>Strides of q, and of k and v.</summary>
    public TensorStrides QueryStrides, KeyStrides;

    /// <summary>Position of each batch element's first token; empty: 0.</summary>
    public ArrayView<int> PositionOffsets;

    public int Sequence, QueryHeads, KeyValueHeads, HeadDim;

    /// <summary>1 for interleaved pairs (2i, 2i + 1), 0 for half-split (i, i + d/2).</summary>
    public int Interleaved;

    /// <summary>−log2(base)·2/d: pair i turns by position · 2^(i·this).</summary>
    public float FrequencyExponent;

    /// <summary>Factor applied to q (1: none).</summary>
    public float QueryScale;

    /// <summary>1 when every view starts at an address aligned to four elements: quads move as vectors.</summary>
    public int WholeQuads;
}
