using ILGPU;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The inputs of <see cref="ScoreModifiers"/>: a bias broadcast over batch and heads ([B|1, H|1, Sq, Sk], a stride of
/// 0 for a broadcast dimension; row stride Sk), ALiBi slopes ([B|1, H]), the softcap (0 for none) and the dropout on the probabilities (threshold 0 for none). Empty views
/// mean none of that kind.
/// </summary>
internal struct ScoreModifierParams
{
    public ArrayView<float> Bias;

    public int BiasBatchStride, BiasHeadStride;

    public ArrayView<float> AlibiSlopes;

    /// <summary>Query heads for per-batch slopes, 0 for one slope per head shared by every batch element.</summary>
    public int AlibiBatchStride;

    public float Softcap;

    /// <summary>Dropout on the attention probabilities: ⌈p·2⁸⌉, at most 255 (<see cref="Numerics.Philox.AttentionThreshold"/>; 0: none).</summary>
    public uint DropoutThreshold;

    /// <summary>The keep factor 1/(1 − p′), p′ the drop probability at the stream's 8-bit resolution (<see cref="Numerics.Philox.AttentionKeepScale"/>).</summary>
    public float DropoutScale;

    /// <summary>The round keys of the dropout stream's seed (computed on the host: no key bumps in the kernels).</summary>
    public Numerics.PhiloxKey DropoutKey;

    /// <summary>The offset of the dropout's Philox stream.</summary>
    public ulong DropoutOffset;

    /// <summary>1 when the bias is a block-sparse mask's element mask, read only in the tiles its work list marks (an int: kernel arguments must be blittable).</summary>
    public int BiasInMaskedTilesOnly;
}
