using System.Runtime.CompilerServices;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Elements;

/// <summary>fp16 storage, kept as raw <see cref="ushort"/> bits so that no backend needs native half support.</summary>
internal readonly struct Float16Codec : IElementCodec<ushort>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ToFloat(ushort value) => Float16Bits.ToFloat(value);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort FromFloat(float value) => Float16Bits.FromFloat(value);
}
