using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Elements;

/// <summary>fp32 storage: no conversion.</summary>
internal readonly struct Float32Codec : IElementCodec<float>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ToFloat(float value) => value;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float FromFloat(float value) => value;
}
