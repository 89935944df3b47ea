namespace TinyFlash;

/// <summary>How <see cref="FlashEngine.RotaryQkvSplit{T}"/> rotates and lays out q and k.</summary>
/// <example>
/// <code>var options = new RotaryOptions { Style = RotaryStyle.HalfSplit, Base = 500000f, QueryScale = 1 / MathF.Sqrt(128), PositionOffsets = cacheLengths };</code>
/// </example>
public sealed record RotaryOptions
{
    /// <summary>Which features pair up.</summary>
    public RotaryStyle Style { get; init; } = RotaryStyle.HalfSplit;

    /// <summary>
    /// The frequency base θ: pair i of a head turns by position · θ^(−2i/d) radians (the angle computed in fp32, as
    /// the reference implementations do). Finite and positive.
    /// </summary>
    public float Base { get; init; } = 10000f;

    /// <summary>
    /// A factor folded into q as it is written (for example the softmax scale, so that attention then runs with
    /// <c>Scale = 1</c>); <c>null</c>: none. Finite and positive.
    /// </summary>
    public float? QueryScale { get; init; }

    /// <summary>
    /// Position of each batch element's first token (the length of its key/value cache when decoding), one per batch
    /// element, each at least 0; <c>null</c>: every sequence starts at position 0.
    /// </summary>
    public IReadOnlyList<int>? PositionOffsets { get; init; }

    /// <summary>Half-split, base 10000, no query scale, positions from 0.</summary>
    public static RotaryOptions Default { get; } = new();
}
