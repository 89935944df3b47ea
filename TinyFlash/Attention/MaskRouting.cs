namespace TinyFlash.Attention;

/// <summary>
/// Turns a boolean mask that a structured option computes exactly into that option, before validation: a mask
/// (<see cref="AttentionBias.FromMask"/>) shared by every batch element and head, on a call with no other mask, cache
/// lengths or packed sequences, whose <see cref="SparsityAnalyzer"/> pattern is full, causal, a sliding window, or
/// block-diagonal (with one batch element: it runs as packed sequences; not with ALiBi or dropout, whose key positions
/// count from the sequence's first key there). Anything else keeps the general masked kernel.
/// </summary>
internal static class MaskRouting
{
    /// <summary>The options a call runs with, and the pattern that decided it (<c>null</c> when no mask was analyzed).</summary>
    public static (AttentionOptions Options, MaskPattern? Pattern) Route(AttentionOptions options, AttentionShape shape)
    {
        if (options.Bias is not { Mask: { } mask } bias || bias.Batch != 1 || bias.Heads != 1
            || mask.LongLength != (long)shape.QueryLength * shape.KeyLength
            || options.Causal || options.WindowLeft >= 0 || options.WindowRight >= 0
            || options.CacheLengths is not null || options.QuerySequenceOffsets is not null || options.KeySequenceOffsets is not null)
            return (options, null);
        var pattern = bias.PatternOf(shape.QueryLength, shape.KeyLength);
        if (pattern.Kind == MaskPatternKind.BlockDiagonal && (shape.Batch != 1 || options.AlibiSlopes is not null || options.DropoutProbability > 0f))
            return (options, pattern);
        return (pattern.AsOptions(options) ?? options, pattern);
    }
}
