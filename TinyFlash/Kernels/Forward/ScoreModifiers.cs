using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

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
/// </summary>
internal readonly struct ScoreModifiers : IScoreModifier<ScoreModifiers>
{
    private readonly ArrayView<float> bias;
    private readonly int biasRowStride, queryLength, keyLength, diagonal;
    private readonly float toLogit, fromLogit, softcap, inverseSoftcap, slope;
    private readonly bool hasBias, biasInMaskedTilesOnly;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ScoreModifiers(ArrayView<float> bias, bool hasBias, bool biasInMaskedTilesOnly, int biasRowStride, int queryLength,
        int keyLength, float toLogit, float softcap, float slope)
    {
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
    public bool IsIdentity => false;

    /// <summary>The modifiers of <paramref name="block"/>'s sequence and head; scores are logits times 1/<paramref name="toLogit"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ScoreModifiers For<T>(in AttentionParams<T> p, in QueryBlock block, float toLogit) where T : unmanaged
    {
        var m = p.Modifiers;
        bool hasBias = m.Bias.Length > 0;
        var bias = hasBias ? m.Bias.SubView(block.Batch * m.BiasBatchStride + block.Head * m.BiasHeadStride) : m.Bias;
        float slope = m.AlibiSlopes.Length > 0 ? m.AlibiSlopes[block.Batch * m.AlibiBatchStride + block.Head] : 0f;
        return new ScoreModifiers(bias, hasBias, m.BiasInMaskedTilesOnly != 0, p.KeyLength, block.QueryLength, block.KeyLength, toLogit, m.Softcap, slope);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ScoreModifiers ForTile(bool masked) => new(bias, hasBias && (masked || !biasInMaskedTilesOnly), biasInMaskedTilesOnly,
        biasRowStride, queryLength, keyLength, toLogit, softcap, slope);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Apply(float score, int row, int key)
    {
        float x = score * toLogit;
        if (softcap > 0f)
            x = softcap * XMath.Tanh(x * inverseSoftcap);
        x -= slope * XMath.Abs(row + diagonal - key);
        if (hasBias)
        {
            bool inside = row < queryLength & key < keyLength;
            float b = bias[inside ? row * biasRowStride + key : 0];
            x += inside ? b : 0f;
        }
        return x * fromLogit;
    }
}
