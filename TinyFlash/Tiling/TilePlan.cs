using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Tiling;

/// <summary>
/// The tile geometry of a forward launch: <see cref="BlockM"/> query rows a group, <see cref="ThreadsX"/> threads
/// across the 4·ThreadsX keys of a tile, and <see cref="OutputChunks"/> four-feature output chunks a thread.
/// Everything else (shared-memory layout, group size) follows from these and the head dimension.
/// </summary>
internal sealed record TilePlan
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

    /// <summary>Query rows a group owns.</summary>
    public int BlockM { get; }

    /// <summary>Threads across the keys of a tile (and across the features of the output).</summary>
    public int ThreadsX { get; }

    /// <summary>Features per head.</summary>
    public int HeadDim { get; }

    /// <summary>Keys per tile.</summary>
    public int BlockN => 4 * ThreadsX;

    /// <summary>Threads a group: four query rows each, times <see cref="ThreadsX"/>.</summary>
    public int Threads => BlockM / 4 * ThreadsX;

    /// <summary>Four-feature output chunks held by each thread.</summary>
    public int OutputChunks => (HeadDim + BlockN - 1) / BlockN;

    /// <summary>
    /// Registers a thread of the kernel needs, estimated from <c>ptxas -v</c> on sm_90 (128 with two output chunks,
    /// no spills): scores, statistics, pipelined operands and addressing take about 90, each chunk about 19. CUDA
    /// launches also check the compiled kernel's real limit.
    /// </summary>
    public int EstimatedRegisters => 90 + 19 * OutputChunks;

    /// <summary>Dynamic shared memory of a group, in <see cref="Float4"/> units.</summary>
    public int SharedFloat4s => Layout(queryBlocks: 1).PartialOffset4 + ThreadsX * RowPitch4;

    /// <summary>Dynamic shared memory of a group, in bytes.</summary>
    public long SharedBytes => 16L * SharedFloat4s;

    private int RowPitch4 => (BlockM + 4) / 4;

    /// <summary>The kernel's view of this plan for a query length.</summary>
    /// <remarks>
    /// Pᵀ takes Kᵀ's place when it fits: every thread has finished reading Kᵀ (its scores are computed) before the
    /// row-maximum barrier, and P is written after it, so the alias costs no barrier and saves a tile.
    /// </remarks>
    public ForwardTiling Layout(int queryBlocks)
    {
        int keyPitch4 = (BlockN + 4) / 4;
        int valuePitch4 = OutputChunks * ThreadsX;
        int keyOffset = HeadDim * RowPitch4;
        int keySize = HeadDim * keyPitch4;
        int valueOffset = keyOffset + keySize;
        int valueEnd = valueOffset + BlockN * valuePitch4;
        int probabilitySize = BlockN * RowPitch4;
        bool aliasKey = probabilitySize <= keySize;
        int probabilityOffset = aliasKey ? keyOffset : valueEnd;
        return new ForwardTiling
        {
            BlockM = BlockM,
            BlockN = BlockN,
            ThreadsX = ThreadsX,
            Threads = Threads,
            QueryBlocks = queryBlocks,
            RowPitch4 = RowPitch4,
            KeyPitch4 = keyPitch4,
            ValuePitch4 = valuePitch4,
            QueryOffset4 = 0,
            KeyOffset4 = keyOffset,
            ValueOffset4 = valueOffset,
            ProbabilityOffset4 = probabilityOffset,
            PartialOffset4 = aliasKey ? valueEnd : valueEnd + probabilitySize,
        };
    }
}
