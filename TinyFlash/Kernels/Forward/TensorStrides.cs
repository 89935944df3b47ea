using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// Element strides of a [batch, heads, sequence, features] tensor in either memory order: the kernel reads both
/// layouts through these, never through a transposing copy. Features are always contiguous.
/// </summary>
/// <remarks>
/// For grouped-query decode the engine packs the query heads of a key/value head as the rows of one launch head:
/// row r is position r mod <see cref="PackedPositions"/> of the group's query head r / <see cref="PackedPositions"/>,
/// <see cref="PackedHead"/> elements apart. In the [batch, heads, sequence] layout, and with one position, those
/// rows are evenly spaced (<see cref="EvenRows"/>); with several positions in the [batch, sequence, heads] layout
/// they are not, and the kernels then write their rows through the split workspace, whose combine places them.
/// </remarks>
internal struct TensorStrides
{
    /// <summary>Elements between consecutive batches.</summary>
    public int Batch;

    /// <summary>Elements between consecutive heads (of the launch: with packed heads, between key/value heads' groups).</summary>
    public int Head;

    /// <summary>Elements between consecutive sequence positions.</summary>
    public int Row;

    /// <summary>Positions each packed query head contributes to its group's rows; 0 when a row is one position of one head.</summary>
    public int PackedPositions;

    /// <summary>Elements between consecutive packed query heads.</summary>
    public int PackedHead;

    /// <summary>Rows <paramref name="row"/> elements apart, as a loader takes them (keys, values, unpacked queries).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TensorStrides Even(int row) => new() { Row = row };

    /// <summary>Index of feature 0 at position 0 of head <paramref name="head"/> in batch <paramref name="batch"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Origin(int batch, int head) => batch * Batch + head * Head;

    /// <summary>Elements from a head's origin to feature 0 of its row <paramref name="row"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int RowOffset(int row) => PackedPositions == 0
        ? row * Row
        : row / PackedPositions * PackedHead + row % PackedPositions * Row;

    /// <summary>The sequence position of row <paramref name="row"/>: what the mask compares with key positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Position(int row) => PackedPositions == 0 ? row : row % PackedPositions;

    /// <summary>Whether row r starts at r·<see cref="Row"/> from its head's origin (what the kernels' stores assume).</summary>
    public readonly bool EvenRows => PackedPositions == 0 || PackedHead == PackedPositions * Row;
}
