using System.Runtime.CompilerServices;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Elements;

/// <summary>bfloat16 storage, kept as raw <see cref="ushort"/> bits.</summary>
internal readonly struct BFloat16Codec : IElementCodec<ushort>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ToFloat(ushort value) => BFloat16Bits.ToFloat(value);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort FromFloat(float value) => BFloat16Bits.FromFloat(value);
}
