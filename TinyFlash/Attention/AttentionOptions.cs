namespace TinyFlash;

/// <summary>
/// What an attention call computes besides plain <c>softmax(Q·Kᵀ·scale)·V</c>. Masks follow FlashAttention-2
/// (version 2.1 and later): with <c>QueryLength != KeyLength</c> they are aligned to the bottom-right corner, so
/// query <c>i</c> sits on key diagonal <c>i + KeyLength - QueryLength</c>.
/// </summary>
/// <example>
/// <code>var options = new AttentionOptions { Causal = true, WindowLeft = 256 }; // causal sliding window of 257 keys</code>
/// </example>
public sealed record AttentionOptions
{
    /// <summary>Multiplier of the scores; <c>null</c> means <c>1/sqrt(HeadDim)</c>. Must be finite and positive.</summary>
    public float? Scale { get; init; }

    /// <summary>Query <c>i</c> sees key <c>j</c> only when <c>j &lt;= i + KeyLength - QueryLength</c>.</summary>
    public bool Causal { get; init; }

    /// <summary>
    /// Keys visible to the left of the diagonal: query <c>i</c> sees key <c>j</c> only when
    /// <c>j &gt;= i + KeyLength - QueryLength - WindowLeft</c>. -1 means unbounded.
    /// </summary>
    public int WindowLeft { get; init; } = -1;

    /// <summary>
    /// Keys visible to the right of the diagonal: query <c>i</c> sees key <c>j</c> only when
    /// <c>j &lt;= i + KeyLength - QueryLength + WindowRight</c>. -1 means unbounded; <see cref="Causal"/> implies 0.
    /// </summary>
    public int WindowRight { get; init; } = -1;

    /// <summary>The options used when a call passes none: no mask, scale <c>1/sqrt(HeadDim)</c>.</summary>
    public static AttentionOptions Default { get; } = new();
}
