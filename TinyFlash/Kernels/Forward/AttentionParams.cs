using ILGPU;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The one argument of a forward attention launch: every view, length, stride and mask bound, filled in by the
/// host after validation (FlashAttention's <c>Flash_fwd_params</c>). Indices are 32-bit; the host has checked
/// that every tensor fits.
/// </summary>
/// <typeparam name="T">Storage element: <see cref="float"/>, or <see cref="ushort"/> bits of fp16/bf16.</typeparam>
internal struct AttentionParams<T> where T : unmanaged
{
    public ArrayView<T> Query, Key, Value, Output;

    /// <summary>Natural-log log-sum-exp per query row, [batch, query heads, query length]; empty when not wanted.</summary>
    public ArrayView<float> LogSumExp;

    /// <summary>Strides of the query and output tensors.</summary>
    public TensorStrides QueryStrides;

    /// <summary>Strides of the key and value tensors.</summary>
    public TensorStrides KeyStrides;

    public int QueryHeads, HeadsPerKeyValue, QueryLength, KeyLength, HeadDim;

    /// <summary>
    /// Valid keys of each batch's sequence, [batch] (a key/value cache filled to different lengths): sequence b sees
    /// keys [0, KeyLengths[b]) and its mask aligns to that length. Empty: every sequence has <see cref="KeyLength"/>.
    /// </summary>
    public ArrayView<int> KeyLengths;

    /// <summary>
    /// Packed variable-length sequences, [sequences + 1] each: sequence s is query rows [QueryOffsets[s],
    /// QueryOffsets[s + 1]) and key rows [KeyOffsets[s], KeyOffsets[s + 1]) of batch element 0. Empty: every batch
    /// element is one sequence.
    /// </summary>
    public ArrayView<int> QueryOffsets, KeyOffsets;

    /// <summary>
    /// Groups each query block's visible key tiles are split across (flash-decoding); 1 for none. With more, or with
    /// packed query rows the output does not space evenly (<see cref="TensorStrides.EvenRows"/>), a group writes its
    /// rows normalised by its own sum to <see cref="SplitOutput"/> and their log-sum-exp to
    /// <see cref="SplitLogSumExp"/> instead of the output, and <see cref="SplitCombineKernel{T, TCodec}"/> merges
    /// them into place.
    /// </summary>
    public int KeySplits;

    /// <summary>Partial outputs, fp32, [batch·head][row][split][feature] (a row's splits are adjacent for the combine); empty when the kernel writes the output.</summary>
    public ArrayView<float> SplitOutput;

    /// <summary>Partial natural-log log-sum-exp, [batch·head][row][split]; −∞ for a split that saw no key of the row.</summary>
    public ArrayView<float> SplitLogSumExp;

    /// <summary>Query blocks per (sequence, head): ⌈longest sequence's queries / BlockM⌉.</summary>
    public int QueryBlocks;

    /// <summary>Sequences · query heads of the launch (the grid has KeySplits · QueryBlocks · BatchHeads groups).</summary>
    public int BatchHeads;

    /// <summary>The tile geometry, for kernels that take it at run time (<see cref="RuntimeTileShape"/>).</summary>
    public TileGeometry Geometry;

    /// <summary>Softmax scale times log2(e): scores are kept in base 2 so the exponential is one <c>ex2</c>.</summary>
    public float ScaleLog2;

    /// <summary>
    /// A block-sparse mask's work lists in this launch's tiles (empty: band masks): offsets [planes · QueryBlocks + 1]
    /// into the entries, which start at <see cref="TileListEntries"/>; a block of (batch b, head h) reads row
    /// (b·TilePlaneBatchStride + h·TilePlaneHeadStride)·QueryBlocks + its query block.
    /// </summary>
    public ArrayView<int> TileList;

    public int TileListEntries, TilePlaneBatchStride, TilePlaneHeadStride;

    /// <summary>
    /// The order groups take (sequence, head, query block) in, as sequence·head·QueryBlocks + query block, heaviest
    /// first (a block-sparse mask's rows differ in work); empty: the latest query block of each head first.
    /// </summary>
    public ArrayView<int> GroupOrder;

    /// <summary>
    /// 1: without <see cref="GroupOrder"/>, the grid takes the same query block of every head together
    /// (<see cref="Tiling.GridOrder.BlocksTogether"/>); 0: each head's blocks together.
    /// </summary>
    public int BlocksTogether;

    /// <summary>Softcap, ALiBi and bias, read only by kernels specialised on <see cref="ScoreModifiers"/>.</summary>
    public ScoreModifierParams Modifiers;

    /// <summary>
    /// Element index of feature 0 of query (and output) row <paramref name="row"/>, counted in the log-sum-exp's order
    /// (batch·heads + head)·QueryLength + position (packed sequences: batch 0 and the packed position).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public readonly int QueryRowOrigin(int row)
    {
        int batchHead = row / QueryLength;
        int batch = batchHead / QueryHeads;
        return QueryStrides.Origin(batch, batchHead - batch * QueryHeads) + QueryStrides.RowOffset(row - batchHead * QueryLength);
    }

    /// <summary>Key <c>j</c> is visible to query <c>i</c> when <c>DiagonalLow ≤ j − i ≤ DiagonalHigh</c> (and <c>j &lt; KeyLength</c>).</summary>
    public int DiagonalLow, DiagonalHigh;
}
