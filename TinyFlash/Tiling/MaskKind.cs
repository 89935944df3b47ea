namespace TinyFlash.Tiling;

/// <summary>The kind of mask a call has, as far as tiling and tuning care: how much of the score matrix is visited.</summary>
internal enum MaskKind
{
    /// <summary>Every key is visible.</summary>
    None,

    /// <summary>Causal, no window: a triangle.</summary>
    Causal,

    /// <summary>A sliding window (left, right or both, causal or not): a band.</summary>
    Window,

    /// <summary>A block-sparse mask: the tiles its work lists name.</summary>
    BlockSparse,
}
