namespace TinyFlash;

/// <summary>
/// Reads the structure of a boolean mask: its density, and whether it is exactly causal, a (causal) sliding window,
/// block-diagonal (independent sequences, full or causal within each), or none of these. The engine uses it to run a
/// mask handed in as <see cref="AttentionBias.FromMask"/> on the kernel that computes it without reading the mask
/// (band masks skip whole tiles; block-diagonal masks run as packed sequences). A near miss (one element more or
/// less) is <see cref="MaskPatternKind.General"/>: only an exact match is routed.
/// </summary>
/// <example>
/// <code>
/// var pattern = SparsityAnalyzer.Analyze(visible, queryLength: 4096, keyLength: 4096);
/// Console.WriteLine(pattern.Describe());   // e.g. "sliding window (left 255, right 0, causal), density 0.062"
/// </code>
/// </example>
public static class SparsityAnalyzer
{
    /// <summary>Analyzes a [<paramref name="queryLength"/>, <paramref name="keyLength"/>] mask, row-major, true where a key is visible.</summary>
    /// <exception cref="ArgumentException">The lengths are not positive or the mask's length is not their product.</exception>
    public static MaskPattern Analyze(ReadOnlySpan<bool> visible, int queryLength, int keyLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queryLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(keyLength, 1);
        if (visible.Length != (long)queryLength * keyLength)
            throw new ArgumentException(
                $"visible has {visible.Length} elements; a {queryLength} x {keyLength} mask has {(long)queryLength * keyLength}.", nameof(visible));

        var rows = new Row[queryLength];
        long total = 0;
        bool contiguous = true;
        for (int i = 0; i < queryLength; i++)
        {
            var row = visible.Slice(i * keyLength, keyLength);
            int first = row.IndexOf(true), last = row.LastIndexOf(true), count = first < 0 ? 0 : row[first..(last + 1)].Count(true);
            rows[i] = new Row(first, last);
            total += count;
            contiguous &= first < 0 || count == last - first + 1;
        }
        double density = (double)total / ((long)queryLength * keyLength);
        if (total == (long)queryLength * keyLength)
            return new MaskPattern(MaskPatternKind.Full, density);
        if (!contiguous)
            return new MaskPattern(MaskPatternKind.General, density);
        return Band(rows, keyLength, density) ?? BlockDiagonal(rows, keyLength, density) ?? new MaskPattern(MaskPatternKind.General, density);
    }

    /// <summary>
    /// Analyzes a block-sparse mask's visible elements: one shared by every batch element and head as a dense mask
    /// (<see cref="Analyze(ReadOnlySpan{bool}, int, int)"/>); one per batch element or head is general, with the density
    /// over all of its planes.
    /// </summary>
    public static MaskPattern Analyze(BlockSparseMask mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        int planes = mask.Batch * mask.Heads;
        var dense = new bool[(long)planes * mask.QueryLength * mask.KeyLength];
        long visible = 0, index = 0;
        for (int b = 0; b < mask.Batch; b++)
        for (int h = 0; h < mask.Heads; h++)
        for (int i = 0; i < mask.QueryLength; i++)
        for (int j = 0; j < mask.KeyLength; j++)
            visible += (dense[index++] = mask.Visible(b, h, i, j)) ? 1 : 0;
        return planes == 1
            ? Analyze(dense, mask.QueryLength, mask.KeyLength)
            : new MaskPattern(MaskPatternKind.General, (double)visible / dense.LongLength);
    }

    /// <summary>
    /// A band around the bottom-right-aligned diagonal: the right and left widths are read off the rows the band does
    /// not clip, then every row (empty ones too) must be exactly the band's.
    /// </summary>
    private static MaskPattern? Band(Row[] rows, int keyLength, double density)
    {
        int offset = keyLength - rows.Length;
        int? right = null, left = null;
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i].IsEmpty)
                continue;
            int diagonal = i + offset;
            if (rows[i].Last < keyLength - 1 && !Agrees(ref right, rows[i].Last - diagonal))
                return null;
            if (rows[i].First > 0 && !Agrees(ref left, diagonal - rows[i].First))
                return null;
        }
        if (right < 0 || left < 0 || (right is null && left is null))
            return null;
        for (int i = 0; i < rows.Length; i++)
        {
            int diagonal = i + offset;
            int low = left is int l ? Math.Max(0, diagonal - l) : 0;
            int high = right is int r ? Math.Min(keyLength - 1, diagonal + r) : keyLength - 1;
            if (low > high ? !rows[i].IsEmpty : rows[i] != new Row(low, high))
                return null;
        }
        return right == 0 && left is null
            ? new MaskPattern(MaskPatternKind.Causal, density, -1, 0, Causal: true)
            : new MaskPattern(MaskPatternKind.SlidingWindow, density, left ?? -1, right ?? -1, Causal: right == 0);

        static bool Agrees(ref int? width, int value)
        {
            width ??= value;
            return width == value;
        }
    }

    /// <summary>
    /// Independent sequences: runs of rows that see one key block, full (every row the whole block) or causal (bottom-right
    /// aligned within it), blocks in order and disjoint. Keys no query sees become sequences without queries.
    /// </summary>
    private static MaskPattern? BlockDiagonal(Row[] rows, int keyLength, double density)
    {
        foreach (bool causal in new[] { false, true })
        {
            var queries = new List<int> { 0 };
            var keys = new List<int> { 0 };
            int i = 0, keyCursor = 0;
            bool fits = true;
            while (fits && i < rows.Length)
            {
                var start = rows[i];
                if (start.IsEmpty || start.First < keyCursor)
                {
                    fits = false;
                    break;
                }
                if (start.First > keyCursor)
                {
                    queries.Add(i);
                    keys.Add(start.First);
                }
                int end = i + 1;
                while (end < rows.Length && !rows[end].IsEmpty && rows[end].First == start.First && (causal || rows[end].Last == start.Last))
                    end++;
                int keyEnd = rows[end - 1].Last + 1;
                for (int r = i; r < end && fits; r++)
                {
                    int expectedLast = causal ? Math.Min(keyEnd - 1, start.First + (r - i) + (keyEnd - start.First) - (end - i)) : keyEnd - 1;
                    fits = rows[r] == new Row(start.First, expectedLast);
                }
                queries.Add(end);
                keys.Add(keyEnd);
                keyCursor = keyEnd;
                i = end;
            }
            if (!fits)
                continue;
            if (keyCursor < keyLength)
            {
                queries.Add(rows.Length);
                keys.Add(keyLength);
            }
            if (queries.Count > 2)
                return new MaskPattern(MaskPatternKind.BlockDiagonal, density, Causal: causal, QueryOffsets: queries, KeyOffsets: keys);
        }
        return null;
    }

    /// <summary>A row's first and last visible key (−1 and −1 when it sees none).</summary>
    private readonly record struct Row(int First, int Last)
    {
        public bool IsEmpty => First < 0;
    }
}
