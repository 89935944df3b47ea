using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>A 16-bit tensor (the attention output), a pair rounded and packed into one 32-bit store.</summary>
internal readonly struct PackedPairs<TElement>(ArrayView<uint> pairs) : IPairSink where TElement : struct, ITensorElement
{
    private readonly ArrayView<uint> pairs = pairs;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(int index, float first, float second) => pairs[index / 2] = default(TElement).Pack(first, second);
}
