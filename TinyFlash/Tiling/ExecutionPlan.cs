namespace TinyFlash.Tiling;

/// <summary>
/// The order a forward grid hands query blocks to multiprocessors: blocks that share key/value tiles running at the
/// same time read them from L2, and under a causal mask, where blocks weigh differently, heaviest first keeps the
/// grid's tail short. <see cref="TilePlanner.Order"/> chooses; docs/tiling.md has the measurements.
/// </summary>
internal enum GridOrder
{
    /// <summary>
    /// Each head's query blocks one after another (the latest first), heads in order, so that the query heads of one
    /// key/value head follow each other: the groups in flight share a few heads' keys and values.
    /// </summary>
    HeadsTogether,

    /// <summary>
    /// The same query block of every head together, latest first: every head's keys and values are in flight at once,
    /// but under a causal mask the grid runs its heaviest blocks first and ends on the lightest of all heads.
    /// </summary>
    BlocksTogether,
}

/// <summary>
/// What one forward call runs: a <see cref="Tile"/> of one kernel family, how many groups share each query
/// block's key tiles (<see cref="KeySplits"/>, flash-decoding; 1 for none, more when the grid alone would leave
/// multiprocessors idle), and the <see cref="Order"/> of the grid. The planner proposes plans, the autotuner
/// measures them and the tuning cache stores them.
/// </summary>
internal sealed record ExecutionPlan
{
    private const string BlocksTogetherText = "blocks together";

    /// <summary>A plan; <paramref name="keySplits"/> must be between 1 and <see cref="TilePlanner.MaxKeySplits"/>.</summary>
    public ExecutionPlan(ForwardPlan tile, int keySplits = 1, GridOrder order = GridOrder.HeadsTogether)
    {
        ArgumentNullException.ThrowIfNull(tile);
        ArgumentOutOfRangeException.ThrowIfLessThan(keySplits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(keySplits, TilePlanner.MaxKeySplits);
        Tile = tile;
        KeySplits = keySplits;
        Order = order;
    }

    /// <summary>The tile, which also names the kernel family.</summary>
    public ForwardPlan Tile { get; }

    /// <summary>Groups each query block's keys are split across.</summary>
    public int KeySplits { get; }

    /// <summary>The order of the grid's groups (ignored under a block-sparse mask, whose groups go heaviest first).</summary>
    public GridOrder Order { get; }

    /// <summary>
    /// For records and logs, e.g. <c>tensor-core 4x2x64</c>, <c>tensor-core 1x1x64, 6 key splits</c> or
    /// <c>tensor-core 4x2x64, blocks together</c>.
    /// </summary>
    public string Describe() => Tile.Describe()
        + (KeySplits == 1 ? "" : $", {KeySplits} key splits")
        + (Order == GridOrder.HeadsTogether ? "" : $", {BlocksTogetherText}");

    /// <summary>Parses <see cref="Describe"/>'s text back.</summary>
    /// <exception cref="FormatException">The text is not a plan.</exception>
    public static ExecutionPlan Parse(string text, int headDim)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(", ");
        int keySplits = 1;
        var order = GridOrder.HeadsTogether;
        foreach (string part in parts.Skip(1))
        {
            if (part == BlocksTogetherText)
                order = GridOrder.BlocksTogether;
            else if (!part.EndsWith(" key splits", StringComparison.Ordinal)
                || !int.TryParse(part[..^" key splits".Length], out keySplits)
                || keySplits is < 1 or > TilePlanner.MaxKeySplits)
                throw new FormatException(
                    $"'{text}': '{part}' is neither 'N key splits' with N from 1 to {TilePlanner.MaxKeySplits} nor '{BlocksTogetherText}'.");
        }
        return new ExecutionPlan(ForwardPlan.ParseDescription(parts[0], headDim), keySplits, order);
    }
}
