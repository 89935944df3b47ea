using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The geometry of a forward tile and where each tile lives in shared memory, derived from three numbers: the query
/// rows a group owns, the threads across a key tile and the head dimension. The host's plan and the kernel both read
/// it; in the kernel the three numbers are compile-time constants (<see cref="ITileShape"/>), so every size, pitch
/// and offset below folds to a constant and shared loads take immediate offsets. Sizes are in 16-byte units.
/// <code>
/// Qᵀ [d][BlockM+4]   Kᵀ [d][BlockN+4]   V [BlockN][chunks·ThreadsX]   Pᵀ [BlockN][BlockM+4]   partials [ThreadsX][BlockM+4]
///                    └─ Pᵀ takes Kᵀ's place when it fits
/// </code>
/// </summary>
internal readonly struct TileGeometry
{
    /// <summary>Query rows a group owns (a multiple of 4).</summary>
    public readonly int BlockM;

    /// <summary>Threads across the keys of a tile and across the features of the output.</summary>
    public readonly int ThreadsX;

    /// <summary>Features per head.</summary>
    public readonly int HeadDim;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TileGeometry(int blockM, int threadsX, int headDim)
    {
        BlockM = blockM;
        ThreadsX = threadsX;
        HeadDim = headDim;
    }

    /// <summary>Keys per tile: each thread holds four.</summary>
    public int BlockN => 4 * ThreadsX;

    /// <summary>Threads a group: four query rows each, times <see cref="ThreadsX"/>.</summary>
    public int Threads => BlockM / 4 * ThreadsX;

    /// <summary>Four-feature output chunks each thread holds.</summary>
    public int OutputChunks => (HeadDim + BlockN - 1) / BlockN;

    /// <summary>Row pitch of Qᵀ, Pᵀ and the partials: one unit of padding keeps 16-byte accesses conflict-free.</summary>
    public int RowPitch4 => (BlockM + 4) / 4;

    /// <summary>Row pitch of Kᵀ.</summary>
    public int KeyPitch4 => (BlockN + 4) / 4;

    /// <summary>Row pitch of V: the features padded to whole output chunks.</summary>
    public int ValuePitch4 => OutputChunks * ThreadsX;

    /// <summary>Start of Kᵀ (Qᵀ starts at 0).</summary>
    public int KeyOffset4 => HeadDim * RowPitch4;

    /// <summary>Start of V.</summary>
    public int ValueOffset4 => KeyOffset4 + HeadDim * KeyPitch4;

    /// <summary>
    /// Whether Pᵀ takes Kᵀ's place: every thread has finished reading Kᵀ before the row-maximum barrier and P is
    /// written after it, so the alias costs no barrier.
    /// </summary>
    public bool ProbabilityInKeyTile => BlockN * RowPitch4 <= HeadDim * KeyPitch4;

    /// <summary>Start of Pᵀ.</summary>
    public int ProbabilityOffset4 => ProbabilityInKeyTile ? KeyOffset4 : ValueEnd4;

    /// <summary>Start of the row partials.</summary>
    public int PartialOffset4 => ProbabilityInKeyTile ? ValueEnd4 : ValueEnd4 + BlockN * RowPitch4;

    /// <summary>Shared memory of a group.</summary>
    public int SharedFloat4s => PartialOffset4 + ThreadsX * RowPitch4;

    private int ValueEnd4 => ValueOffset4 + BlockN * ValuePitch4;
}
