namespace TinyFlash.Tiling;

/// <summary>
/// What one forward call runs: a <see cref="Tile"/> of one kernel family, and how many groups share each query
/// block's key tiles (<see cref="KeySplits"/>, flash-decoding; 1 for none, more when the grid alone would leave
/// multiprocessors idle). The planner proposes plans, the autotuner measures them and the tuning cache stores them.
/// </summary>
internal sealed record ExecutionPlan
{
    /// <summary>A plan; <paramref name="keySplits"/> must be between 1 and <see cref="TilePlanner.MaxKeySplits"/>.</summary>
    public ExecutionPlan(ForwardPlan tile, int keySplits = 1)
    {
        ArgumentNullException.ThrowIfNull(tile);
        ArgumentOutOfRangeException.ThrowIfLessThan(keySplits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keySplits, TilePlanner.MaxKeySplits);
        Tile = tile;
        KeySplits = keySplits;
    }

    /// <summary>The tile, which also names the kernel family.</summary>
    public ForwardPlan Tile { get; }

    /// <summary>Groups each query block's keys are split across.</summary>
    public int KeySplits { get; }

    /// <summary>For records and logs, e.g. <c>tensor-core 4x2x64</c> or <c>tensor-core 1x1x64, 6 key splits</c>.</summary>
    public string Describe() => KeySplits == 1 ? Tile.Describe() : $"{Tile.Describe()}, {KeySplits} key splits";

    /// <summary>Parses <see cref="Describe"/>'s text back.</summary>
    /// <exception cref="FormatException">The text is not a plan.</exception>
    public static ExecutionPlan Parse(string text, int headDim)
    {
        ArgumentNullException.ThrowIfNull(text);
        int comma = text.IndexOf(", ", StringComparison.Ordinal);
        if (comma < 0)
            return new ExecutionPlan(ForwardPlan.ParseDescription(text, headDim));
        string splits = text[(comma + 2)..];
        if (!splits.EndsWith(" key splits", StringComparison.Ordinal)
            || !int.TryParse(splits[..^" key splits".Length], out int keySplits)
            || keySplits is < 1 or > TilePlanner.MaxKeySplits)
            throw new FormatException($"'{text}' does not end in ', N key splits' with N from 1 to {TilePlanner.MaxKeySplits}.");
        return new ExecutionPlan(ForwardPlan.ParseDescription(text[..comma], headDim), keySplits);
    }
}
