namespace TinyFlash;

/// <summary>The structure <see cref="SparsityAnalyzer"/> found in a boolean mask.</summary>
public enum MaskPatternKind
{
    /// <summary>Every key visible to every query.</summary>
    Full,

    /// <summary>Causal (bottom-right aligned): query i sees keys j ≤ i + KeyLength − QueryLength.</summary>
    Causal,

    /// <summary>A band around the bottom-right-aligned diagonal: <see cref="MaskPattern.WindowLeft"/> keys left, <see cref="MaskPattern.WindowRight"/> right.</summary>
    SlidingWindow,

    /// <summary>Independent sequences: each query sees exactly the keys of its own block (causally, if <see cref="MaskPattern.Causal"/>).</summary>
    BlockDiagonal,

    /// <summary>None of the above: the general masked kernel runs.</summary>
    General,
}

/// <summary>
/// What <see cref="SparsityAnalyzer"/> reports about a mask: its density (visible pairs over all pairs), its kind,
/// and the parameters that reproduce it exactly with a structured option.
/// </summary>
/// <param name="Kind">The structure found.</param>
/// <param name="Density">Visible (query, key) pairs over all pairs, 0 to 1.</param>
/// <param name="WindowLeft">For <see cref="MaskPatternKind.SlidingWindow"/>: keys visible left of the diagonal, −1 for unbounded.</param>
/// <param name="WindowRight">For <see cref="MaskPatternKind.SlidingWindow"/>: keys visible right of it, −1 for unbounded (0: causal).</param>
/// <param name="Causal">Whether nothing right of the diagonal is visible (a causal window, or causal blocks).</param>
/// <param name="QueryOffsets">For <see cref="MaskPatternKind.BlockDiagonal"/>: the blocks' query rows, as cumulative offsets.</param>
/// <param name="KeyOffsets">For <see cref="MaskPatternKind.BlockDiagonal"/>: the blocks' key rows, as cumulative offsets.</param>
public sealed record MaskPattern(
    MaskPatternKind Kind,
    double Density,
    int WindowLeft = -1,
    int WindowRight = -1,
    bool Causal = false,
    IReadOnlyList<int>? QueryOffsets = null,
    IReadOnlyList<int>? KeyOffsets = null)
{
    /// <summary>One line for logs and the CLI, e.g. <c>sliding window (left 255, right 0, causal), density 0.031</c>.</summary>
    public string Describe() => Kind switch
    {
        MaskPatternKind.Full => $"full, density {Density:F3}",
        MaskPatternKind.Causal => $"causal, density {Density:F3}",
        MaskPatternKind.SlidingWindow => $"sliding window (left {WindowLeft}, right {WindowRight}{(Causal ? ", causal" : "")}), density {Density:F3}",
        MaskPatternKind.BlockDiagonal => $"block-diagonal, {QueryOffsets!.Count - 1} blocks{(Causal ? ", causal within each" : "")}, density {Density:F3}",
        _ => $"general, density {Density:F3}",
    };

    /// <summary>
    /// The options that compute exactly this mask without a bias, added to <paramref name="options"/> (whose own
    /// masks must be unset); <c>null</c> for <see cref="MaskPatternKind.General"/>.
    /// </summary>
    public AttentionOptions? AsOptions(AttentionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Kind switch
        {
            MaskPatternKind.Full => options with { Bias = null },
            MaskPatternKind.Causal => options with { Bias = null, Causal = true },
            MaskPatternKind.SlidingWindow => options with { Bias = null, Causal = Causal, WindowLeft = WindowLeft, WindowRight = Causal ? -1 : WindowRight },
            MaskPatternKind.BlockDiagonal => options with { Bias = null, Causal = Causal, QuerySequenceOffsets = QueryOffsets, KeySequenceOffsets = KeyOffsets },
            _ => null,
        };
    }
}
