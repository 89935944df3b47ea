namespace TinyFlash;

/// <summary>Which normalisation a fused post-processing call applies.</summary>
public enum NormKind
{
    /// <summary>LayerNorm: (s − mean)/√(var + ε)·γ + β.</summary>
    LayerNorm,

    /// <summary>RMSNorm: s/√(mean(s²) + ε)·γ (no mean, no β).</summary>
    RmsNorm,
}
