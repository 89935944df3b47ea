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
/// element (row r, key position j) is kept when word j mod 4 of Philox4x32-10 at counter (j/4, r, offset) under the
/// seed, as a 24-bit uniform, is at least p, so four consecutive keys from a multiple of 4 cost one generator call.
/// </summary>
internal readonly struct ScoreModifiers : IScoreModifier<ScoreModifiers>
{
    private readonly ArrayView<float> bias;
    private readonly int biasRowStride, queryLength, keyLength, diagonal;
    private readonly float toLogit, fromLogit, softcap, inverseSoftcap, slope;
    private readonly bool hasBias, biasInMaskedTilesOnly;
    private readonly float dropoutProbability, dropoutScale;
    private readonly ulong dropoutSeed, dropoutOffset;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ScoreModifiers(ArrayView<float> bias, bool hasBias, bool biasInMaskedTilesOnly, int biasRowStride, int queryLength,
        int keyLength, float toLogit, float softcap, float slope, float dropoutProbability, float dropoutScale, ulong dropoutSeed,
        ulong dropoutOffset)
    {
        this.dropoutProbability = dropoutProbability;
        this.dropoutScale = dropoutScale;
        this.dropoutSeed = dropoutSeed;
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
    public bool IsIdentity => false;

    /// <summary>The modifiers of <paramref name="block"/>'s sequence and head; scores are logits times 1/<paramref name="toLogit"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ScoreModifiers For<T>(in AttentionParams<T> p, in QueryBlock block, float toLogit) where T : unmanaged
    {
        var m = p.Modifiers;
        bool hasBias = m.Bias.Length > 0;
        var bias = hasBias ? m.Bias.SubView(block.Batch * m.BiasBatchStride + block.Head * m.BiasHeadStride) : m.Bias;
        float slope = m.AlibiSlopes.Length > 0 ? m.AlibiSlopes[block.Batch * m.AlibiBatchStride + block.Head] : 0f;
        return new ScoreModifiers(bias, hasBias, m.BiasInMaskedTilesOnly != 0, p.KeyLength, block.QueryLength, block.KeyLength, toLogit, m.Softcap, slope,
            m.DropoutProbability, m.DropoutScale, m.DropoutSeed, m.DropoutOffset);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ScoreModifiers ForTile(bool masked) => new(bias, hasBias && (masked || !biasInMaskedTilesOnly), biasInMaskedTilesOnly,
        biasRowStride, queryLength, keyLength, toLogit, softcap, slope, dropoutProbability, dropoutScale, dropoutSeed, dropoutOffset);

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
    public bool Drops => dropoutProbability > 0f;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Float4 KeepFactors(int rowIndex, int key)
    {
        Philox.AttentionUniforms(dropoutSeed, dropoutOffset, rowIndex, key, out float u0, out float u1, out float u2, out float u3);
        return new Float4(Keep(u0), Keep(u1), Keep(u2), Keep(u3));
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void KeepPair(int rowIndex, int key, out float first, out float second)
    {
        var words = Philox.AttentionWords(dropoutSeed, dropoutOffset, rowIndex, (uint)key >> 2);
        int shift = key & 3;
        first = Keep(Philox.ToUniform(Philox.Word(words, shift)));
        if (shift == 3) // the pair straddles two counters (a packed sequence starting off an even position)
            words = Philox.AttentionWords(dropoutSeed, dropoutOffset, rowIndex, ((uint)key >> 2) + 1);
        second = Keep(Philox.ToUniform(Philox.Word(words, (shift + 1) & 3)));
    }

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

    /// <summary>The dropout factor of an element whose uniform number is <paramref name="uniform"/>: 0 or 1/(1 − p).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Keep(float uniform) => uniform >= dropoutProbability ? dropoutScale : 0f;
}
