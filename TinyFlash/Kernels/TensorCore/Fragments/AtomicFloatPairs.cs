using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// An fp32 tensor that several groups add into (the backward's dq accumulator). On CUDA each pair is one vector
/// reduction, <c>red.global.add.v2.f32</c> (sm_90): half the atomic operations of two scalar adds, which is what the
/// key-block pass spends most of its memory traffic on. The twin adds the two values atomically one by one.
/// <paramref name="address"/> is the device address of <paramref name="values"/> (8-byte aligned: pairs start at even
/// indices).
/// </summary>
internal readonly struct AtomicFloatPairs(ArrayView<float> values, ulong address) : IPairSink
{
    private readonly ArrayView<float> values = values;
    private readonly ulong address = address;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(int index, float first, float second)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("red.global.add.v2.f32 [%0], {%1, %2};", address + 4ul * (uint)index, first, second);
            return;
        }
        Atomic.Add(ref values[index], first);
        Atomic.Add(ref values[index + 1], second);
    }
}
