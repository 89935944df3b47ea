using TinyFlash.Kernels.TensorCore;

namespace TinyFlash.Tiling;

/// <summary>
/// A tile of the tensor-core kernel (CUDA, fp16/bf16): <see cref="Warps"/> warps a group, each owning
/// <see cref="RowTiles"/> tiles of 16 query rows, key tiles of <see cref="BlockN"/>, and <see cref="Stages"/>
/// key/value tiles in shared memory at once (the cp.async pipeline's depth).
/// </summary>
internal sealed record TensorCorePlan : ForwardPlan, IPipelinedPlan
{
    /// <summary>Most pipeline stages the kernel supports.</summary>
    public const int MaxStages = 4;

    /// <summary>A plan; every size must be one the kernel supports.</summary>
    public TensorCorePlan(int warps, int rowTiles, int blockN, int headDim, int stages = 2)
    {
        if (stages is < 2 or > MaxStages)
            throw new ArgumentOutOfRangeException(nameof(stages), stages, $"Pipeline stages must be between 2 and {MaxStages}.");
        if (warps is < 1 or > 16)
            throw new ArgumentOutOfRangeException(nameof(warps), warps, "Warps must be between 1 and 16.");
        if (rowTiles is not (1 or 2))
            throw new ArgumentOutOfRangeException(nameof(rowTiles), rowTiles, "Row tiles a warp must be 1 or 2.");
        if (blockN < 16 || blockN % 16 != 0)
            throw new ArgumentOutOfRangeException(nameof(blockN), blockN, "BlockN must be a positive multiple of 16.");
        if (headDim < 16 || headDim % 16 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The tensor-core kernel needs a head dim that is a multiple of 16.");
        Warps = warps;
        RowTiles = rowTiles;
        BlockN = blockN;
        HeadDim = headDim;
        Stages = stages;
    }

    public int Warps { get; }

    public int RowTiles { get; }

    /// <inheritdoc/>
    public override int BlockN { get; }

    /// <inheritdoc/>
    public int Stages { get; }

    /// <inheritdoc/>
    int IPipelinedPlan.MaxStages => MaxStages;

    /// <summary>The same tile with <paramref name="stages"/> pipeline stages.</summary>
    public TensorCorePlan WithStages(int stages) => new(Warps, RowTiles, BlockN, HeadDim, stages);

    /// <inheritdoc/>
    ForwardPlan IPipelinedPlan.WithStages(int stages) => WithStages(stages);

    /// <inheritdoc/>
    public override int HeadDim { get; }

    /// <summary>The geometry the kernel is specialised on.</summary>
    public TensorCoreGeometry Geometry => new(Warps, RowTiles, BlockN, HeadDim, Stages);

    /// <inheritdoc/>
    public override int BlockM => Geometry.BlockM;

    /// <inheritdoc/>
    public override int Threads => Geometry.Threads;

    /// <inheritdoc/>
    public override long SharedBytes => Geometry.SharedBytes;

    /// <summary>
    /// Accumulators (S: BlockN/16 column blocks, O: HeadDim/16, 8 floats per block and row tile) plus about 72 for
    /// fragments, statistics and addresses; fitted to <c>ptxas -v</c> on sm_90 (4x2x64 at d = 128: 255 with a small
    /// spill; 8x1x32 at d = 256: 233; 8x2x64 at d = 96: 231).
    /// </summary>
    public override int EstimatedRegisters => Math.Min(255, 72 + 8 * RowTiles * (BlockN / 16 + HeadDim / 16));

    /// <inheritdoc/>
    public override string Describe() => Stages == 2
        ? $"tensor-core {Warps}x{RowTiles}x{BlockN}"
        : $"tensor-core {Warps}x{RowTiles}x{BlockN}x{Stages}";

    /// <summary>Parses <see cref="Describe"/>'s <c>WARPSxROWTILESxBLOCKN[xSTAGES]</c> part (2 stages when omitted).</summary>
    public static TensorCorePlan Parse(string text, int headDim)
    {
        var parts = text.Split('x');
        int stages = 2;
        if (parts.Length is not (3 or 4) || !int.TryParse(parts[0], out int warps) || !int.TryParse(parts[1], out int rowTiles)
            || !int.TryParse(parts[2], out int blockN) || parts.Length == 4 && !int.TryParse(parts[3], out stages))
            throw new FormatException($"'{text}' is not WARPSxROWTILESxBLOCKN[xSTAGES] (for example 4x2x64, or 4x2x64x3).");
        try
        {
            return new TensorCorePlan(warps, rowTiles, blockN, headDim, stages);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"'{text}' is not a valid tensor-core tile: {e.Message}", e);
        }
    }
}
