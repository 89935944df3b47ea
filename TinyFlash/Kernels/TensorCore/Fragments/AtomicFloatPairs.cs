using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>An fp32 tensor that several groups add into (the backward's dq accumulator): each pair added atomically.</summary>
internal readonly struct AtomicFloatPairs(ArrayView<float> values) : IPairSink
{
    private readonly ArrayView<float> values = values;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(int index, float first, float second)
    {
        Atomic.Add(ref values[index], first);
        Atomic.Add(ref values[index + 1], second);
    }
}
