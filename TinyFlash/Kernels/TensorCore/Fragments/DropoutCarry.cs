using System.Runtime.CompilerServices;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// The dropout words (<see cref="Philox.AttentionWords"/>) a 16-column block drew for its rows, carried to its right
/// neighbour: one call covers a row's 32-key block, words X and Y the lower 16 keys and Z and W the upper 16, so a
/// block in the lower half draws (rows g and g + 8 of up to two row tiles) and the next block reuses what it drew.
/// </summary>
internal struct DropoutCarry
{
    public Philox Top, Bottom, SecondTop, SecondBottom;

    /// <summary>Whether the words are those of the lower half of the 32-key block the next block belongs to.</summary>
    public bool Valid;

    /// <summary>Whether the block whose lane column 2t is key <paramref name="key"/> finds its words here.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Drawn(int key) => Valid & (key & 16) != 0;

    /// <summary>After the block at key <paramref name="key"/>: the words serve the next block only if this one was a lower half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance(int key) => Valid = (key & 16) == 0;
}
