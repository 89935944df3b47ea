using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Numerics;

/// <summary>
/// bfloat16 ⇄ float conversions on the raw 16 bits, callable from kernels and the host alike.
/// A bfloat16 is the upper half of a float, so widening is a shift and narrowing rounds the lower half away.
/// </summary>
internal static class BFloat16Bits
{
    /// <summary>The float value of a bfloat16 bit pattern (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    /// <summary>The bfloat16 bit pattern nearest to <paramref name="value"/> (ties to even; NaN stays a quiet NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        uint x = Interop.FloatAsInt(value);
        if ((x & 0x7FFFFFFFu) > 0x7F800000u)
            return (ushort)((x >> 16) | 0x0040u);
        x += 0x7FFFu + ((x >> 16) & 1u);
        return (ushort)(x >> 16);
    }
}
