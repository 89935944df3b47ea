using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// Element strides of a [batch, heads, sequence, features] tensor in either memory order: the kernel reads both
/// layouts through these, never through a transposing copy. Features are always contiguous.
/// </summary>
internal struct TensorStrides
{
    /// <summary>Elements between consecutive batches.</summary>
    public int Batch;

    /// <summary>Elements between consecutive heads.</summary>
    public int Head;

    /// <summary>Elements between consecutive sequence positions.</summary>
    public int Row;

    /// <summary>Index of feature 0 at position 0 of head <paramref name="head"/> in batch <paramref name="batch"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Origin(int batch, int head) => batch * Batch + head * Head;
}
