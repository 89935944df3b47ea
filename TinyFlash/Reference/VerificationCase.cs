namespace TinyFlash.Reference;

/// <summary>One attention problem of the correctness matrix.</summary>
/// <param name="Name">What the case covers, for reports.</param>
/// <param name="Shape">Sizes and layout.</param>
/// <param name="Options">Scale and masks.</param>
/// <param name="Type">Storage type of q, k, v and the output.</param>
public sealed record VerificationCase(string Name, AttentionShape Shape, AttentionOptions Options, ElementType Type)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name} [{Type} B{Shape.Batch} H{Shape.QueryHeads}/{Shape.KeyValueHeads} {Shape.QueryLength}x{Shape.KeyLength} d{Shape.HeadDim} {Shape.Layout}" +
        (Options.Causal ? " causal" : "") +
        (Options.WindowLeft >= 0 || Options.WindowRight >= 0 ? $" window({Options.WindowLeft},{Options.WindowRight})" : "") +
        (Options.CacheLengths is { } lengths ? $" cache lengths [{string.Join(", ", lengths)}]" : "") +
        (Options.QuerySequenceOffsets is { } offsets ? $" packed sequences [{string.Join(", ", offsets)}]" : "") +
        (Options.Softcap is float softcap ? $" softcap {softcap}" : "") +
        (Options.AlibiSlopes is not null ? " ALiBi" : "") +
        (Options.Bias is { } bias ? $" bias [{bias.Batch}, {bias.Heads}, Sq, Sk]" : "") +
        (Options.BlockMask is { } blockMask ? $" block mask {blockMask.QueryBlockSize}x{blockMask.KeyBlockSize} ({blockMask.BlockDensity:P0} of blocks)" : "") +
        (Options.DropoutProbability > 0f ? $" dropout {Options.DropoutProbability}" : "") +
        (Options.DeterministicBackward ? " deterministic" : "") + "]";
}
