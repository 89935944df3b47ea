using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Numerics;

/// <summary>
/// IEEE binary16 (fp16) ⇄ float conversions on the raw 16 bits, callable from kernels and the host alike.
/// Kernels keep fp16 tensors as <see cref="ushort"/> so that no backend needs native half support (OpenCL
/// devices without <c>cl_khr_fp16</c> included). The conversions are written without branches (selects only), so
/// a warp loading a tile never diverges and its global loads are not serialised behind per-element control flow.
/// Both are exact or round to nearest even. CUDA kernels use the hardware conversion instead
/// (<see cref="Kernels.Elements.Float16NativeCodec"/>).
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
        uint normal = ((exponent + 112u) << 23) | (mantissa << 13);
        uint special = 0x7F800000u | (mantissa << 13);
        // Zero or subnormal: mantissa · 2⁻²⁴ is exact in float (and normal, so flush-to-zero cannot touch it).
        uint subnormal = Interop.FloatAsInt(mantissa * 5.9604644775390625e-8f);
        uint magnitude = exponent == 0x1Fu ? special : exponent != 0 ? normal : subnormal;
        return Interop.IntAsFloat(sign | magnitude);
    }

    /// <summary>The fp16 bit pattern nearest to <paramref name="value"/> (ties to even; overflow to infinity, NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float value)
    {
        uint x = Interop.FloatAsInt(value);
        uint sign = (x >> 16) & 0x8000u;
        uint magnitude = x & 0x7FFFFFFFu;
        uint special = magnitude > 0x7F800000u ? 0x7E00u : 0x7C00u; // NaN, or infinity and overflow (≥ 65520)
        // Rebias the exponent (127 → 15) and round the 13 dropped bits to nearest even.
        uint normal = (magnitude + 0xC8000FFFu + ((magnitude >> 13) & 1u)) >> 13;
        // Below the smallest normal (2⁻¹⁴): adding 0.5 aligns the float's last mantissa bit with 2⁻²⁴, so the
        // float adder performs the round-to-nearest-even of the subnormal.
        uint subnormal = Interop.FloatAsInt(Interop.IntAsFloat(magnitude) + 0.5f) - 0x3F000000u;
        uint result = magnitude >= 0x477FF000u ? special : magnitude >= 0x38800000u ? normal : subnormal;
        return (ushort)(sign | result);
    }
}
