using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// <c>ldmatrix.x4</c>: four 8×8 matrices of 16-bit elements from shared memory into fragment registers in one warp
/// instruction. Lane <c>8m + r</c> supplies the byte offset of row <c>r</c> of matrix <c>m</c> (16 contiguous bytes);
/// lane <c>l</c> receives, of each matrix, row <c>l / 4</c>, columns <c>2(l % 4)</c> and <c>+1</c>, or with
/// <c>.trans</c> column <c>l / 4</c>, rows <c>2(l % 4)</c> and <c>+1</c>.
/// </summary>
internal static class LdMatrix
{
    /// <summary>Loads four matrices; <paramref name="rowOffset"/> is this lane's row address (see the type).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Fragment X4(SharedBlock shared, uint rowOffset)
    {
        if (CudaAsm.IsSupported)
        {
            Output<uint> r0 = default, r1 = default, r2 = default, r3 = default;
            Input<uint> address = shared.Address + rowOffset;
            CudaAsm.EmitRef("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];",
                ref r0, ref r1, ref r2, ref r3, ref address);
            return new Fragment(r0.Value, r1.Value, r2.Value, r3.Value);
        }
        return X4Twin(shared, rowOffset);
    }

    /// <summary>Twin of <see cref="X4"/> (out of line: on CUDA its call is removed).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Fragment X4Twin(SharedBlock shared, uint rowOffset)
    {
        int lane = Warp.LaneIdx;
        uint column = 4u * (uint)(lane % 4);
        int row = lane / 4;
        return new Fragment(
            shared.Word(Warp.Shuffle(rowOffset, row) + column),
            shared.Word(Warp.Shuffle(rowOffset, 8 + row) + column),
            shared.Word(Warp.Shuffle(rowOffset, 16 + row) + column),
            shared.Word(Warp.Shuffle(rowOffset, 24 + row) + column));
    }

    /// <summary>Loads four matrices transposed; <paramref name="rowOffset"/> is this lane's row address (see the type).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Fragment X4Transposed(SharedBlock shared, uint rowOffset)
    {
        if (CudaAsm.IsSupported)
        {
            Output<uint> r0 = default, r1 = default, r2 = default, r3 = default;
            Input<uint> address = shared.Address + rowOffset;
            CudaAsm.EmitRef("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];",
                ref r0, ref r1, ref r2, ref r3, ref address);
            return new Fragment(r0.Value, r1.Value, r2.Value, r3.Value);
        }
        return X4TransposedTwin(shared, rowOffset);
    }

    /// <summary>Twin of <see cref="X4Transposed"/> (out of line: on CUDA its call is removed).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Fragment X4TransposedTwin(SharedBlock shared, uint rowOffset)
    {
        int lane = Warp.LaneIdx;
        uint column = 2u * (uint)(lane / 4);
        int row = 2 * (lane % 4);
        return new Fragment(
            TransposedPair(shared, rowOffset, row, column),
            TransposedPair(shared, rowOffset, 8 + row, column),
            TransposedPair(shared, rowOffset, 16 + row, column),
            TransposedPair(shared, rowOffset, 24 + row, column));
    }

    /// <summary>Twin of one transposed register: the elements at <paramref name="column"/> (bytes) of rows <paramref name="rowLane"/> and the next.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint TransposedPair(SharedBlock shared, uint rowOffset, int rowLane, uint column) =>
        shared.Half(Warp.Shuffle(rowOffset, rowLane) + column)
        | shared.Half(Warp.Shuffle(rowOffset, rowLane + 1) + column) << 16;
}
