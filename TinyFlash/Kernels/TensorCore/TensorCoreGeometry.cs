namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// Sizes and shared-memory offsets of the tensor-core forward kernel, all derived from five numbers: warps a group,
/// 16-row tiles a warp (1 or 2), keys a tile (a multiple of 16), the head dimension (a multiple of 16) and the
/// pipeline stages (key/value tiles in shared memory at once, 2 to 4: S − 1 tiles load while one is used). Rows in
/// shared memory are padded by 8 elements (16 bytes), so the eight rows an <c>ldmatrix</c> phase reads fall in
/// eight different 16-byte bank groups: no bank conflicts, without a swizzle.
/// </summary>
internal readonly struct TensorCoreGeometry(int warps, int rowTiles, int blockN, int headDim, int stages = 2)
{
    public int Warps { get; } = warps;
    public int RowTiles { get; } = rowTiles;
    public int BlockN { get; } = blockN;
    public int HeadDim { get; } = headDim;
    public int Stages { get; } = stages;

    /// <summary>Query rows a group owns.</summary>
    public int BlockM => 16 * RowTiles * Warps;

    /// <summary>Threads a group.</summary>
    public int Threads => 32 * Warps;

    /// <summary>Bytes between consecutive rows of every shared tile.</summary>
    public int PitchBytes => 2 * (HeadDim + 8);

    /// <summary>Bytes of one key or value tile.</summary>
    public int TileBytes => BlockN * PitchBytes;

    /// <summary>Byte offset of the key tile of pipeline stage <paramref name="stage"/> (0 … Stages − 1); Q sits at 0.</summary>
    public int KeyOffset(int stage) => BlockM * PitchBytes + 2 * stage * TileBytes;

    /// <summary>Byte offset of the value tile of pipeline stage <paramref name="stage"/>.</summary>
    public int ValueOffset(int stage) => KeyOffset(stage) + TileBytes;

    /// <summary>Shared memory a group: Q, and K and V once a stage.</summary>
    public int SharedBytes => BlockM * PitchBytes + 2 * Stages * TileBytes;
}
