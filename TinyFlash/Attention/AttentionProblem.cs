using TinyFlash.Tiling;

namespace TinyFlash.Attention;

/// <summary>
/// A validated attention call: the shape, the softmax scale, the mask as a band of key − query diagonals
/// (<see cref="DiagonalLow"/> ≤ j − i ≤ <see cref="DiagonalHigh"/>, aligned to the tensors' key length), with
/// ±<see cref="Unbounded"/> for no bound, its <see cref="Mask"/> kind, and the sequences' own key lengths or packed
/// sequences, if any (each sequence's band then moves by its key length minus its query length, less the tensors'),
/// the softcap, ALiBi slopes and bias, if any, and the dropout on the probabilities, if any.
/// </summary>
internal readonly record struct AttentionProblem(AttentionShape Shape, float Scale, int DiagonalLow, int DiagonalHigh,
    MaskKind Mask, IReadOnlyList<int>? KeyLengths, PackedSequences? Packed, ScoreModifierInputs? Modifiers, BlockSparseMask? BlockMask,
    DropoutInputs? Dropout = null)
{
    /// <summary>A diagonal bound beyond any key − query difference a valid shape can have (lengths stay below 2²⁶).</summary>
    public const int Unbounded = 1 << 30;
}
