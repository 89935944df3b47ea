using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Tiling;

/// <summary>
/// A forward tile the planner proposes: <see cref="BlockM"/> query rows a group and <see cref="ThreadsX"/> threads
/// across the 4·ThreadsX keys of a tile, for a head dimension. Everything else follows (<see cref="TileGeometry"/>).
/// </summary>
internal sealed record TilePlan : ForwardPlan
{
    /// <summary>A plan of <paramref name="blockM"/> query rows (a multiple of 4) and 4·<paramref name="threadsX"/> keys (at least 8).</summary>
    public TilePlan(int blockM, int threadsX, int headDim)
    {
        if (blockM < 4 || blockM % 4 != 0)
            throw new ArgumentOutOfRangeException(nameof(blockM), blockM, "BlockM must be a positive multiple of 4.");
        if (threadsX < 2)
            throw new ArgumentOutOfRangeException(nameof(threadsX), threadsX, "ThreadsX must be at least 2 (tiles of at least 8 keys).");
        BlockM = blockM;
        ThreadsX = threadsX;
        HeadDim = headDim;
    }

    /// <summary>The geometry the kernel is specialised on.</summary>
    public TileGeometry Geometry => new(BlockM, ThreadsX, HeadDim);

    /// <inheritdoc/>
    public override int BlockM { get; }

    /// <summary>Threads across the keys of a tile (and across the features of the output).</summary>
    public int ThreadsX { get; }

    /// <inheritdoc/>
    public override int HeadDim { get; }

    /// <summary>Keys per tile.</summary>
    public override int BlockN => Geometry.BlockN;

    /// <inheritdoc/>
    public override int Threads => Geometry.Threads;

    /// <summary>Four-feature output chunks held by each thread.</summary>
    public int OutputChunks => Geometry.OutputChunks;

    /// <summary>
    /// Registers a thread of the kernel needs, estimated from <c>ptxas -v</c> on sm_90 (121 with two output chunks, no
    /// spills; 255 and a small spill with eight): scores, statistics, pipelined operands and addressing take about 90,
    /// each chunk about 19. CUDA launches also check the compiled kernel's real limit.
    /// </summary>
    public override int EstimatedRegisters => 90 + 19 * OutputChunks;

    /// <summary>Shared memory of a group, in <see cref="Float4"/> units.</summary>
    public int SharedFloat4s => Geometry.SharedFloat4s;

    /// <inheritdoc/>
    public override long SharedBytes => 16L * SharedFloat4s;

    /// <inheritdoc/>
    public override string Describe() => $"portable {BlockM}x{ThreadsX}";

    /// <summary>Parses <see cref="Describe"/>'s <c>BLOCKMxTHREADSX</c> part.</summary>
    public static TilePlan Parse(string text, int headDim)
    {
        var parts = text.Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int blockM) || !int.TryParse(parts[1], out int threadsX))
            throw new FormatException($"'{text}' is not BLOCKMxTHREADSX (for example 64x16).");
        try
        {
            return new TilePlan(blockM, threadsX, headDim);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"'{text}' is not a valid portable tile: {e.Message}", e);
        }
    }
}
