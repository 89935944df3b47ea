using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Tiling;

/// <summary>
/// The tile geometry of a forward launch: <see cref="BlockM"/> query rows a group, <see cref="ThreadsX"/> threads
/// across the 4·ThreadsX keys of a tile, and <see cref="OutputChunks"/> four-feature output chunks a thread.
/// Everything else (shared-memory layout, group size) follows from these and the head dimension.
/// </summary>
internal sealed record TilePlan(int BlockM, int ThreadsX, int HeadDim)
{
    /// <summary>Keys per tile.</summary>
    public int BlockN => 4 * ThreadsX;

    /// <summary>Threads a group: four query rows each, times <see cref="ThreadsX"/>.</summary>
    public int Threads => BlockM / 4 * ThreadsX;

    /// <summary>Four-feature output chunks held by each thread.</summary>
    public int OutputChunks => (HeadDim + BlockN - 1) / BlockN;

    /// <summary>Dynamic shared memory of a group, in <see cref="Float4"/> units.</summary>
    public int SharedFloat4s => Layout(queryBlocks: 1).PartialOffset4 + ThreadsX * RowPitch4;

    /// <summary>Dynamic shared memory of a group, in bytes.</summary>
    public long SharedBytes => 16L * SharedFloat4s;

    private int RowPitch4 => (BlockM + 4) / 4;

    /// <summary>The kernel's view of this plan for a query length.</summary>
    public ForwardTiling Layout(int queryBlocks)
    {
        int keyPitch4 = (BlockN + 4) / 4;
        int valuePitch4 = OutputChunks * ThreadsX;
        int keyOffset = HeadDim * RowPitch4;
        int valueOffset = keyOffset + HeadDim * keyPitch4;
        int probabilityOffset = valueOffset + BlockN * valuePitch4;
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
            PartialOffset4 = probabilityOffset + BlockN * RowPitch4,
        };
    }
}
