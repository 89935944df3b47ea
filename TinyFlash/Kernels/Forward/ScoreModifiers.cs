using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Registers;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// Logit soft-capping, ALiBi and an additive bias, applied in that order (FlashAttention-2's order) to the logit
/// x = scale·q·k of query i and key j of one (sequence, head):
/// <code>
///   x ← c·tanh(x / c)                      if softcap c &gt; 0
///   x ← x − slope_h · |i + Lk − Lq − j|     if ALiBi (distance from the bottom-right-aligned diagonal)
///   x ← x + bias[b|0, h|0, i, j]           if a bias (−∞ hides the key: a boolean mask; for a block-sparse mask's
///                                          element mask, only in the tiles its work list marks)
/// </code>
/// Kernels keep scores in their own units (the tensor-core kernel raw q·k, the portable one x·log2 e), so the logit
/// is the score times <see cref="toLogit"/> and the result goes back by the reciprocal. Built once per query block.
/// Dropout on the probabilities rides along (it is what else a kernel specialised on modifiers does to each score):
/// element (row r, key j of the sequence) is kept when its byte of Philox4x32-10's words
/// (<see cref="Philox.AttentionWords"/>) is at least ⌈p·2⁸⌉, under round keys the host computed from the seed.
/// </summary>
internal readonly struct ScoreModifiers : IScoreModifier<ScoreModifiers>
{
    private readonly ArrayView<float> bias;
    private readonly int biasRowStride, queryLength, keyLength, diagonal;
    private readonly float toLogit, fromLogit, softcap, inverseSoftcap, slope;
    private readonly bool hasBias, biasInMaskedTilesOnly;
    private readonly uint dropoutThreshold;
    private readonly float dropoutScale;
    private readonly PhiloxKey dropoutKey;
    private readonly ulong dropoutOffset;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ScoreModifiers(ArrayView<float> bias, bool hasBias, bool biasInMaskedTilesOnly, int biasRowStride, int queryLength,
        int keyLength, float toLogit, float softcap, float slope, uint dropoutThreshold, float dropoutScale, in PhiloxKey dropoutKey,
        ulong dropoutOffset)
    {
        this.dropoutThreshold = dropoutThreshold;
        this.dropoutScale = dropoutScale;
        this.dropoutKey = dropoutKey;
        this.dropoutOffset = dropoutOffset;
        this.bias = bias;
        this.hasBias = hasBias;
        this.biasInMaskedTilesOnly = biasInMaskedTilesOnly;
        this.biasRowStride = biasRowStride;
        this.queryLength = queryLength;
        this.keyLength = keyLength;
        diagonal = keyLength - queryLength;
        this.toLogit = toLogit;
        fromLogit = 1f / toLogit;
        this.softcap = softcap;
        inverseSoftcap = softcap > 0f ? 1f / softcap : 0f;
        this.slope = slope;
    }

    /// <inheritdoc/>
    public bool IsIdentity => !(softcap > 0f | slope != 0f | hasBias);

    /// <summary>The modifiers of <paramref name="block"/>'s sequence and head; scores are logits times 1/<paramref name="toLogit"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ScoreModifiers For<T>(in AttentionParams<T> p, in QueryBlock block, float toLogit) where T : unmanaged
    {
        var m = p.Modifiers;
        bool hasBias = m.Bias.Length > 0;
        var bias = hasBias ? m.Bias.SubView(block.Batch * m.BiasBatchStride + block.Head * m.BiasHeadStride) : m.Bias;
        float slope = m.AlibiSlopes.Length > 0 ? m.AlibiSlopes[block.Batch * m.AlibiBatchStride + block.Head] : 0f;
        return new ScoreModifiers(bias, hasBias, m.BiasInMaskedTilesOnly != 0, p.KeyLength, block.QueryLength, block.KeyLength, toLogit, m.Softcap, slope,
            m.DropoutThreshold, m.DropoutScale, m.DropoutKey, m.DropoutOffset);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ScoreModifiers ForTile(bool masked) => new(bias, hasBias && (masked || !biasInMaskedTilesOnly), biasInMaskedTilesOnly,
        biasRowStride, queryLength, keyLength, toLogit, softcap, slope, dropoutThreshold, dropoutScale, dropoutKey, dropoutOffset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Apply(float score, int row, int key)
    {
        float x = score * toLogit;
        if (softcap > 0f)
            x = softcap * Tanh(x * inverseSoftcap);
        x -= slope * XMath.Abs(row + diagonal - key);
        if (hasBias)
        {
            bool inside = row < queryLength & key < keyLength;
            float b = bias[inside ? row * biasRowStride + key : 0];
            x += inside ? b : 0f;
        }
        return x * fromLogit;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Slope(float score)
    {
        if (softcap <= 0f)
            return 1f;
        float t = Tanh(score * toLogit * inverseSoftcap);
        return 1f - t * t;
    }

    /// <inheritdoc/>
    public bool Drops => dropoutThreshold != 0;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Philox DropoutWords(int rowIndex, int key) => Philox.AttentionWords(dropoutKey, dropoutOffset, rowIndex, key);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint KeptBytes(uint word) => Philox.AttentionKeptBytes(word, dropoutThreshold);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float KeepFactor(uint kept) => (kept & 1u) != 0 ? dropoutScale : 0f;

    /// <inheritdoc/>
    public float KeepScale => dropoutScale;

    /// <summary>
    /// tanh from one exp2: (1 − e)/(1 + e) with e = e^(−2|x|) in (0, 1], the sign put back; within a few 1e-8 of
    /// tanh everywhere, saturating cleanly. Not <c>XMath.Tanh</c>: under fast math ILGPU 1.5.3 emits
    /// <c>tanh.approx.ftz.f32</c> for it, which is not PTX (tanh.approx has no .ftz) and fails the driver's JIT; and
    /// tanh.approx's 2⁻¹¹ relative error would be too coarse for the fp32 kernels anyway.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Tanh(float x)
    {
        float e = XMath.Exp2(-2.8853900817779268f * XMath.Abs(x)); // 2·log2(e)
        float t = (1f - e) / (1f + e);
        return x < 0f ? -t : t;
    }
}
