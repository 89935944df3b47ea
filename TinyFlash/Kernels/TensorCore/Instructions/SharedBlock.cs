using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// A group's dynamic shared memory as the tensor-core instructions address it: byte offsets from its start, turned
/// into a 32-bit shared-window address on CUDA (ILGPU names the block <c>__dyn_shared_alloca</c> in its PTX) and
/// into indices of the 16-bit view in the portable twins.
/// </summary>
internal readonly struct SharedBlock
{
    /// <summary>The block as 16-bit elements (what the twins read and write).</summary>
    public readonly ArrayView<ushort> View;

    /// <summary>Shared-window address of byte 0 (CUDA only).</summary>
    public readonly uint Address;

    private SharedBlock(ArrayView<ushort> view, uint address)
    {
        View = view;
        Address = address;
    }

    /// <summary>The launch's dynamic shared memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SharedBlock Dynamic()
    {
        var view = SharedMemory.GetDynamic<ushort>();
        uint address = 0;
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("mov.u32 %0, __dyn_shared_alloca;", out address);
        return new SharedBlock(view, address);
    }

    /// <summary>The 32-bit word at byte offset <paramref name="offset"/> (a multiple of 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Word(uint offset) => View[(int)(offset / 2)] | (uint)View[(int)(offset / 2) + 1] << 16;

    /// <summary>The 16-bit element at byte offset <paramref name="offset"/> (even).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Half(uint offset) => View[(int)(offset / 2)];

    /// <summary>
    /// Stores the low 16 bits of <paramref name="value"/> at byte offset <paramref name="offset"/> (even): one
    /// <c>st.shared.b16</c> on CUDA (the view's generic store would go through the generic address space).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store16(uint offset, uint value)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("{ .reg .b16 t; cvt.u16.u32 t, %1; st.shared.b16 [%0], t; }", Address + offset, value);
            return;
        }
        View[(int)(offset / 2)] = (ushort)value;
    }
}
