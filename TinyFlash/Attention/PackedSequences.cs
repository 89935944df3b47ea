namespace TinyFlash.Attention;

/// <summary>
/// Validated packed variable-length sequences: cumulative offsets of each sequence's queries and keys in the packed
/// tensors, and the longest sequence of each (what the grid and the planner size blocks by).
/// </summary>
internal sealed record PackedSequences(int[] QueryOffsets, int[] KeyOffsets, int LongestQuery, int LongestKey)
{
    /// <summary>Number of sequences.</summary>
    public int Count => QueryOffsets.Length - 1;

    /// <summary>The offsets of queries and then keys, one array (the order the kernels' views take them in).</summary>
    public int[] Concatenated() => [.. QueryOffsets, .. KeyOffsets];
}
