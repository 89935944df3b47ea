using ILGPU;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Registers;

/// <summary>
/// One thread's slice of the output accumulator O: four query rows × <see cref="Count"/> chunks of four
/// features, chunk <c>c</c> at feature <c>column + c·columnStride</c>. The chunk count is a type
/// (<see cref="OutputChunk"/> composed by <see cref="OutputChunks{TFirst, TSecond}"/>) because ILGPU does not
/// unroll loops: a compile-time-sized tree of fields stays in registers where an array would not.
/// </summary>
internal interface IOutputSlice
{
    /// <summary>Number of four-feature chunks.</summary>
    int Count { get; }

    /// <summary>Multiplies row <c>i</c> of every chunk by lane <c>i</c> of <paramref name="factors"/>.</summary>
    void ScaleRows(Float4 factors);

    /// <summary>
    /// Adds <paramref name="probabilities"/> (one key's probability for each of the four rows) times that key's
    /// value features: chunk <c>c</c> reads <c>values[index + c·stride]</c>.
    /// </summary>
    void AddProducts(Float4 probabilities, ArrayView<Float4> values, int index, int stride);

    /// <summary>
    /// Writes row <c>i</c> times <c>rowFactors[i]</c> for the first <paramref name="rowsValid"/> rows and the chunks
    /// whose first feature is below <paramref name="headDim"/>.
    /// </summary>
    void Store<T, TCodec>(ArrayView<T> output, int rowIndex, int rowStride, int rowsValid,
        int column, int columnStride, int headDim, Float4 rowFactors)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>;

    /// <summary>
    /// Atomically adds row <c>i</c> times <paramref name="factor"/> to <paramref name="target"/> (fp32) for the first
    /// <paramref name="rowsValid"/> rows and the chunks whose first feature is below <paramref name="headDim"/>: how
    /// groups that share output rows (the backward's dq) sum their parts.
    /// </summary>
    void AtomicAdd(ArrayView<float> target, int rowIndex, int rowStride, int rowsValid, int column, int columnStride, int headDim, float factor);
}
