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

    /// <summary>
    /// Valid key/value positions of each sequence, one entry per batch element (a key/value cache filled to different
    /// lengths, as when decoding a batch of prompts): sequence <c>b</c> attends to keys <c>[0, CacheLengths[b])</c>
    /// of the key and value tensors, whose <c>KeyLength</c> is then the cache's capacity, and causal and window
    /// masks align bottom-right to its own length. Each length is between 0 and <c>KeyLength</c>; a sequence of
    /// length 0 gets zeros and a log-sum-exp of −∞. <c>null</c>: every sequence has <c>KeyLength</c> keys.
    /// </summary>
    /// <example>
    /// <code>// 3 sequences sharing a cache of 4096 positions, one new token each:
    /// var options = new AttentionOptions { Causal = true, CacheLengths = [1000, 4096, 17] };</code>
    /// </example>
    public IReadOnlyList<int>? CacheLengths { get; init; }

    /// <summary>
    /// Packed variable-length sequences (FlashAttention's <c>cu_seqlens_q</c>): the tensors hold several sequences
    /// one after another along the sequence axis (<c>shape.Batch</c> = 1, <c>QueryLength</c> and <c>KeyLength</c> the
    /// totals), and sequence <c>s</c> is query rows <c>[QuerySequenceOffsets[s], QuerySequenceOffsets[s + 1])</c>. It
    /// attends only to its own keys (<see cref="KeySequenceOffsets"/>), with masks aligned bottom-right within the
    /// sequence. The offsets start at 0, never decrease and end at the tensor's length; a sequence may be empty.
    /// Set both or neither.
    /// </summary>
    /// <example>
    /// <code>// three prompts of 5, 0 and 300 tokens in one call, no padding:
    /// var options = new AttentionOptions { Causal = true, QuerySequenceOffsets = [0, 5, 5, 305], KeySequenceOffsets = [0, 5, 5, 305] };</code>
    /// </example>
    public IReadOnlyList<int>? QuerySequenceOffsets { get; init; }

    /// <summary>The key (and value) rows of each packed sequence: see <see cref="QuerySequenceOffsets"/>.</summary>
    public IReadOnlyList<int>? KeySequenceOffsets { get; init; }

    /// <summary>
    /// Logit soft-capping (Gemma 2, Grok): each logit x = scale·q·k becomes <c>Softcap·tanh(x / Softcap)</c> before
    /// the softmax. <c>null</c>: none. Must be finite and positive.
    /// </summary>
    public float? Softcap { get; init; }

    /// <summary>
    /// ALiBi slopes: query head h (of batch element b) adds −slope·|i + KeyLength − QueryLength − j| to the logit of
    /// key j (the distance from the bottom-right-aligned diagonal, as FlashAttention-2). One slope per query head, or
    /// Batch·QueryHeads slopes ([batch, head]). <c>null</c>: none.
    /// </summary>
    public IReadOnlyList<float>? AlibiSlopes { get; init; }

    /// <summary>An additive bias or boolean mask on the logits (see <see cref="AttentionBias"/>). <c>null</c>: none.</summary>
    public AttentionBias? Bias { get; init; }

    /// <summary>
    /// A block-sparse mask (see <see cref="BlockSparseMask"/>): key blocks it skips are never loaded, full blocks run
    /// unmasked, partial ones read its element mask. Not combined with other masks, cache lengths, packed sequences or
    /// a bias; softcap and ALiBi apply. <c>null</c>: none.
    /// </summary>
    public BlockSparseMask? BlockMask { get; init; }

    /// <summary>
    /// Dropout on the attention probabilities (training): each probability is zeroed with chance p′ or kept and scaled
    /// by <c>1/(1 − p′)</c>, where p′ is p rounded up to a multiple of 1/256 (0.1 → 26/256 ≈ 0.1016; any p in
    /// (0, 1/256] → 1/256): the mask is 8 bits an element, as FlashAttention's, and its mean is exactly 1. The mask is
    /// never stored: it is drawn from a Philox4x32-10 stream keyed by <see cref="DropoutSeed"/> and
    /// <see cref="DropoutOffset"/> at the element's (query row, key position in its sequence), 16 elements a call, so
    /// <see cref="FlashEngine.AttentionBackward{T}"/> given the same options regenerates it exactly. The log-sum-exp is
    /// that of the scores before dropout. 0 (the default): no dropout. Must be in [0, 1).
    /// </summary>
    /// <example>
    /// <code>// a training step: the backward must get the same options (seed and offset included)
    /// var options = new AttentionOptions { Causal = true, DropoutProbability = 0.1f, DropoutSeed = 42, DropoutOffset = step };</code>
    /// </example>
    public float DropoutProbability { get; init; }

    /// <summary>The key of the dropout stream (PyTorch's generator seed).</summary>
    public ulong DropoutSeed { get; init; }

    /// <summary>
    /// The stream's offset (PyTorch's Philox offset): give each attention call of a training step its own, for
    /// example the layer and step number, so that masks do not repeat.
    /// </summary>
    public ulong DropoutOffset { get; init; }

    /// <summary>
    /// Whether <see cref="FlashEngine.AttentionBackward{T}"/> computes dq deterministically: by its own pass over the
    /// key tiles of each query block (no atomics; gradients bit-identical from run to run; S and dP are computed a
    /// second time, about 1.4× the arithmetic) instead of accumulating each key block's contribution with atomic adds,
    /// whose order varies. The tensor-core backward (fp16/bf16 on CUDA) always takes that pass: there it measured as fast
    /// as the atomics or faster. The forward ignores it.
    /// </summary>
    public bool DeterministicBackward { get; init; }

    /// <summary>The options used when a call passes none: no mask, scale <c>1/sqrt(HeadDim)</c>.</summary>
    public static AttentionOptions Default { get; } = new();
}
