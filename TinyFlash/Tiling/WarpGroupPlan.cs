using TinyFlash.Kernels.TensorCore;

namespace TinyFlash.Tiling;

/// <summary>
/// A tile of the warpgroup kernel (Hopper, fp16/bf16): <see cref="WarpGroups"/> warpgroups a group, each owning 64
/// query rows, key tiles of <see cref="BlockN"/>, and <see cref="Stages"/> key/value tiles in shared memory at once.
/// </summary>
internal sealed record WarpGroupPlan : ForwardPlan, IPipelinedPlan
{
    /// <summary>Most pipeline stages the kernel supports.</summary>
    public const int MaxStages = 4;

    /// <summary>A plan; every size must be one the kernel supports.</summary>
    public WarpGroupPlan(int warpGroups, int blockN, int headDim, int stages = 2)
    {
        if (warpGroups is < 1 or > 8)
            throw new ArgumentOutOfRangeException(nameof(warpGroups), warpGroups, "Warpgroups must be between 1 and 8.");
        if (blockN is < 64 or > 256 || blockN % 64 != 0)
            throw new ArgumentOutOfRangeException(nameof(blockN), blockN, "BlockN must be 64, 128, 192 or 256.");
        if (headDim is < 64 or > 256 || headDim % 64 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The warpgroup kernel needs a head dim of 64, 128, 192 or 256.");
        if (stages is < 2 or > MaxStages)
            throw new ArgumentOutOfRangeException(nameof(stages), stages, $"Pipeline stages must be between 2 and {MaxStages}.");
        WarpGroups = warpGroups;
        BlockN = blockN;
        HeadDim = headDim;
        Stages = stages;
    }

    public int WarpGroups { get; }

    /// <inheritdoc/>
    public override int BlockN { get; }

    /// <inheritdoc/>
    public int Stages { get; }

    /// <inheritdoc/>
    int IPipelinedPlan.MaxStages => MaxStages;

    /// <inheritdoc/>
    public override int HeadDim { get; }

    /// <summary>The same tile with <paramref name="stages"/> pipeline stages.</summary>
    public WarpGroupPlan WithStages(int stages) => new(WarpGroups, BlockN, HeadDim, stages);

    /// <inheritdoc/>
    ForwardPlan IPipelinedPlan.WithStages(int stages) => WithStages(stages);

    /// <summary>The geometry the kernel is specialised on.</summary>
    public WarpGroupGeometry Geometry => new(WarpGroups, BlockN, HeadDim, Stages);

    /// <inheritdoc/>
    public override int BlockM => Geometry.BlockM;

    /// <inheritdoc/>
    public override int Threads => Geometry.Threads;

    /// <inheritdoc/>
    public override long SharedBytes => Geometry.SharedBytes;

    /// <summary>
    /// A thread's share of S (BlockN/2 floats), of P packed to 16 bits (BlockN/4), of O (HeadDim/2), and about 56 for
    /// statistics, descriptors and addresses.
    /// </summary>
    public override int EstimatedRegisters => Math.Min(255, 56 + BlockN / 2 + BlockN / 4 + HeadDim / 2);

    /// <inheritdoc/>
    public override string Describe() => Stages == 2 ? $"{Prefix}{WarpGroups}x{BlockN}" : $"{Prefix}{WarpGroups}x{BlockN}x{Stages}";

    /// <summary>What <see cref="Describe"/> starts with.</summary>
    public const string Prefix = "warp-group ";

    /// <summary>Parses <see cref="Describe"/>'s <c>WARPGROUPSxBLOCKN[xSTAGES]</c> part (2 stages when omitted).</summary>
    public static WarpGroupPlan Parse(string text, int headDim)
    {
        var parts = text.Split('x');
        int stages = 2;
        if (parts.Length is not (2 or 3) || !int.TryParse(parts[0], out int warpGroups) || !int.TryParse(parts[1], out int blockN)
            || parts.Length == 3 && !int.TryParse(parts[2], out stages))
            throw new FormatException($"'{text}' is not WARPGROUPSxBLOCKN[xSTAGES] (for example 2x128, or 2x128x3).");
        try
        {
            return new WarpGroupPlan(warpGroups, blockN, headDim, stages);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"'{text}' is not a valid warpgroup tile: {e.Message}", e);
        }
    }
}
