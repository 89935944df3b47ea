using System.Runtime.CompilerServices;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// <c>prmt.b32</c> in its default mode: result byte i is byte s of the eight bytes {b, a} (a's bytes 0-3, b's 4-7), s
/// the low three bits of nibble i of the selector; with the nibble's top bit set, that byte's sign bit replicated to
/// all eight bits. Dropout moves and widens its kept-bit bytes with it (one instruction where shifts and masks would be
/// several).
/// </summary>
internal static class BytePermute
{
    /// <summary>The permutation of {<paramref name="b"/>, <paramref name="a"/>} by <paramref name="selector"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Permute(uint a, uint b, uint selector)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("prmt.b32 %0, %1, %2, %3;", out uint result, a, b, selector);
            return result;
        }
        return Byte(a, b, selector) | Byte(a, b, selector >> 4) << 8 | Byte(a, b, selector >> 8) << 16 | Byte(a, b, selector >> 12) << 24;
    }

    /// <summary>The byte nibble 0 of <paramref name="selector"/> picks (the twin).</summary>
    private static uint Byte(uint a, uint b, uint selector)
    {
        int index = (int)(selector & 7);
        uint value = index < 4 ? (a >> (8 * index)) & 0xFFu : (b >> (8 * (index - 4))) & 0xFFu;
        return (selector & 8) == 0 ? value : (value & 0x80u) != 0 ? 0xFFu : 0u;
    }
}
