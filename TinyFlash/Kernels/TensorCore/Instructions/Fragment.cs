using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// Four 32-bit registers of a warp-wide matrix fragment, each holding two 16-bit elements (low half first): an
/// m16k16 A operand, or two k16n8 B operands side by side (<see cref="R0"/>, <see cref="R1"/> for the first
/// eight columns, <see cref="R2"/>, <see cref="R3"/> for the next), or the four 8×8 matrices of one
/// <c>ldmatrix.x4</c>.
/// </summary>
internal struct Fragment
{
    public uint R0, R1, R2, R3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Fragment(uint r0, uint r1, uint r2, uint r3)
    {
        R0 = r0;
        R1 = r1;
        R2 = r2;
        R3 = r3;
    }
}
