using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>An fp32 tensor (the partial outputs of key splits).</summary>
internal readonly struct FloatPairs(ArrayView<float> values) : IPairSink
{
    private readonly ArrayView<float> values = values;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(int index, float first, float second)
    {
        values[index] = first;
        values[index + 1] = second;
    }
}
