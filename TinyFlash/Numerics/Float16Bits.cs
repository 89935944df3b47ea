using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Numerics;

/// <summary>
/// IEEE binary16 (fp16) ⇄ float conversions on the raw 16 bits, callable from kernels and the host alike.
/// Kernels keep fp16 tensors as <see cref="ushort"/> so that no backend needs native half support
/// (OpenCL devices without <c>cl_khr_fp16</c> included); the conversions are exact and round to nearest even.
/// </summary>
internal static class Float16Bits
{
    /// <summary>The float value of an fp16 bit pattern (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits)
    {
        uint h = bits;
        uint sign = (h & 0x8000u) << 16;
        uint exponent = (h >> 10) & 0x1Fu;
        uint mantissa = h & 0x3FFu;
        if (exponent == 0x1Fu)
            return Interop.IntAsFloat(sign | 0x7F800000u | (mantissa << 13));
        if (exponent != 0)
            return Interop.IntAsFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
        // Zero or subnormal: mantissa · 2⁻²⁴, exact in float.
        float magnitude = mantissa * 5.9604644775390625e-8f;
        return sign != 0 ? -magnitude : magnitude;
    }

    /// <summary>The fp16 bit pattern nearest to <paramref name="value"/> (ties to even; overflow to infinity, NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        uint x = Interop.FloatAsInt(value);
        uint sign = (x >> 16) & 0x8000u;
        uint magnitude = x & 0x7FFFFFFFu;
        uint result;
        if (magnitude >= 0x7F800000u)
            result = magnitude > 0x7F800000u ? 0x7E00u : 0x7C00u;
        else if (magnitude >= 0x477FF000u)
            result = 0x7C00u; // at or above 65520: rounds to infinity
        else if (magnitude < 0x38800000u)
        {
            // Below the smallest normal (2⁻¹⁴): adding 0.5 aligns the float's last mantissa bit with 2⁻²⁴,
            // so the float adder performs the round-to-nearest-even of the subnormal for us.
            result = Interop.FloatAsInt(Interop.IntAsFloat(magnitude) + 0.5f) - 0x3F000000u;
        }
        else
        {
            // Rebias the exponent (127 → 15) and round the 13 dropped bits to nearest even.
            uint odd = (magnitude >> 13) & 1u;
            result = (magnitude + 0xC8000FFFu + odd) >> 13;
        }
        return (ushort)(sign | result);
    }
}
