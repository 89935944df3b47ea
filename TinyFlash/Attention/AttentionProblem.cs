namespace TinyFlash.Attention;

/// <summary>
/// A validated attention call: the shape, the softmax scale and the mask as a band of key − query diagonals
/// (<see cref="DiagonalLow"/> ≤ j − i ≤ <see cref="DiagonalHigh"/>), with ±<see cref="Unbounded"/> for no bound.
/// </summary>
internal readonly record struct AttentionProblem(AttentionShape Shape, float Scale, int DiagonalLow, int DiagonalHigh)
{
    /// <summary>A diagonal bound beyond any key − query difference a valid shape can have (lengths stay below 2²⁶).</summary>
    public const int Unbounded = 1 << 30;
}
