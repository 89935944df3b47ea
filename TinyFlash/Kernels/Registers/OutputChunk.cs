using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Registers;

/// <summary>An <see cref="IOutputSlice"/> of one chunk: a 4×4 tile of rows × features.</summary>
internal struct OutputChunk : IOutputSlice
{
    public Tile4x4 Tile;

    /// <inheritdoc/>
    public readonly int Count => 1;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(Float4 factors) => Tile.ScaleRows(factors);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddProducts(Float4 probabilities, ArrayView<Float4> values, int index, int stride) =>
        Tile.AddOuterProduct(probabilities, values[index]);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store<T, TCodec>(ArrayView<T> output, int rowIndex, int rowStride, int rowsValid,
        int column, int columnStride, int headDim, Float4 rowFactors)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        if (column >= headDim)
            return;
        int index = rowIndex + column;
        if (rowsValid > 0)
            StoreRow<T, TCodec>(output, index, Tile.R0.Multiply(rowFactors.X));
        if (rowsValid > 1)
            StoreRow<T, TCodec>(output, index + rowStride, Tile.R1.Multiply(rowFactors.Y));
        if (rowsValid > 2)
            StoreRow<T, TCodec>(output, index + 2 * rowStride, Tile.R2.Multiply(rowFactors.Z));
        if (rowsValid > 3)
            StoreRow<T, TCodec>(output, index + 3 * rowStride, Tile.R3.Multiply(rowFactors.W));
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void AtomicAdd(ArrayView<float> target, int rowIndex, int rowStride, int rowsValid, int column, int columnStride, int headDim, float factor)
    {
        if (column >= headDim)
            return;
        int index = rowIndex + column;
        if (rowsValid > 0)
            AddRow(target, index, Tile.R0.Multiply(factor));
        if (rowsValid > 1)
            AddRow(target, index + rowStride, Tile.R1.Multiply(factor));
        if (rowsValid > 2)
            AddRow(target, index + 2 * rowStride, Tile.R2.Multiply(factor));
        if (rowsValid > 3)
            AddRow(target, index + 3 * rowStride, Tile.R3.Multiply(factor));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow(ArrayView<float> target, int index, Float4 row)
    {
        Atomic.Add(ref target[index], row.X);
        Atomic.Add(ref target[index + 1], row.Y);
        Atomic.Add(ref target[index + 2], row.Z);
        Atomic.Add(ref target[index + 3], row.W);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T, TCodec>(ArrayView<T> output, int index, Float4 row)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        TCodec codec = default;
        output[index] = codec.FromFloat(row.X);
        output[index + 1] = codec.FromFloat(row.Y);
        output[index + 2] = codec.FromFloat(row.Z);
        output[index + 3] = codec.FromFloat(row.W);
    }
}
