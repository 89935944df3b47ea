namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The tile geometry of one forward launch, chosen by the planner and read by <see cref="FlashForwardKernel{T, TCodec, TOutput, TShared}"/>:
/// block sizes, the thread grid inside a group and where each tile lives in dynamic shared memory.
/// All offsets and padded widths are in <see cref="Registers.Float4"/> units (16 bytes).
/// </summary>
internal struct ForwardTiling
{
    /// <summary>Query rows a group owns (a multiple of 4).</summary>
    public int BlockM;

    /// <summary>Keys per tile: 4 × <see cref="ThreadsX"/>.</summary>
    public int BlockN;

    /// <summary>Threads along the key (and feature) axis; a group has <c>BlockM / 4 × ThreadsX</c> threads.</summary>
    public int ThreadsX;

    /// <summary>Threads in a group.</summary>
    public int Threads;

    /// <summary>Query blocks per (batch, head).</summary>
    public int QueryBlocks;

    /// <summary>Row pitch of the transposed Q and P tiles: (BlockM + 4) / 4.</summary>
    public int RowPitch4;

    /// <summary>Row pitch of the transposed K tile: (BlockN + 4) / 4.</summary>
    public int KeyPitch4;

    /// <summary>Row pitch of the V tile: output chunks × ThreadsX (features padded to whole chunks).</summary>
    public int ValuePitch4;

    /// <summary>Start of Qᵀ [HeadDim][BlockM + 4].</summary>
    public int QueryOffset4;

    /// <summary>Start of Kᵀ [HeadDim][BlockN + 4].</summary>
    public int KeyOffset4;

    /// <summary>Start of V [BlockN][ValuePitch].</summary>
    public int ValueOffset4;

    /// <summary>Start of Pᵀ [BlockN][BlockM + 4]; the same as <see cref="KeyOffset4"/> when Pᵀ fits in Kᵀ's place.</summary>
    public int ProbabilityOffset4;

    /// <summary>Start of the per-row partial maxima and sums [ThreadsX][BlockM + 4].</summary>
    public int PartialOffset4;
}
