using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Registers;

/// <summary>
/// An <see cref="IOutputSlice"/> made of two smaller ones side by side: the chunks of <typeparamref name="TFirst"/>
/// come first, then those of <typeparamref name="TSecond"/>. After inlining every chunk index is a constant.
/// </summary>
internal struct OutputChunks<TFirst, TSecond> : IOutputSlice
    where TFirst : struct, IOutputSlice
    where TSecond : struct, IOutputSlice
{
    public TFirst First;
    public TSecond Second;

    /// <inheritdoc/>
    public readonly int Count => default(TFirst).Count + default(TSecond).Count;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(Float4 factors)
    {
        First.ScaleRows(factors);
        Second.ScaleRows(factors);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddProducts(Float4 probabilities, ArrayView<Float4> values, int index, int stride)
    {
        First.AddProducts(probabilities, values, index, stride);
        Second.AddProducts(probabilities, values, index + default(TFirst).Count * stride, stride);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store<T, TCodec>(ArrayView<T> output, int rowIndex, int rowStride, int rowsValid,
        int column, int columnStride, int headDim, Float4 rowFactors)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        First.Store<T, TCodec>(output, rowIndex, rowStride, rowsValid, column, columnStride, headDim, rowFactors);
        Second.Store<T, TCodec>(output, rowIndex, rowStride, rowsValid,
            column + default(TFirst).Count * columnStride, columnStride, headDim, rowFactors);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void AtomicAdd(ArrayView<float> target, int rowIndex, int rowStride, int rowsValid, int column, int columnStride, int headDim, float factor)
    {
        First.AtomicAdd(target, rowIndex, rowStride, rowsValid, column, columnStride, headDim, factor);
        Second.AtomicAdd(target, rowIndex, rowStride, rowsValid, column + default(TFirst).Count * columnStride, columnStride, headDim, factor);
    }
}
