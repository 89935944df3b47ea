using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Shared;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// Sizes and shared-memory offsets of the warpgroup forward kernel (<see cref="WarpGroupForwardKernel{TElement, TScores, TOutput, TShape, TModifier}"/>),
/// from four numbers: warpgroups a group (each owns 64 query rows), keys a tile (a multiple of 64), the head dimension
/// (a multiple of 64) and the pipeline stages. Every tile is stored swizzled (<see cref="SwizzledRows"/>), without
/// padding, from a 1024-byte boundary: Q, then K₀ V₀ … K_{S−1} V_{S−1}; the 1024 bytes beyond leave room to align the
/// start of the launch's dynamic shared memory, which ILGPU aligns to 4 bytes only.
/// </summary>
internal readonly struct WarpGroupGeometry(int warpGroups, int blockN, int headDim, int stages = 2)
{
    public int WarpGroups { get; } = warpGroups;
    public int BlockN { get; } = blockN;
    public int HeadDim { get; } = headDim;
    public int Stages { get; } = stages;

    /// <summary>Query rows a group owns.</summary>
    public int BlockM => 64 * WarpGroups;

    /// <summary>Threads a group.</summary>
    public int Threads => 128 * WarpGroups;

    /// <summary>Bytes of one key or value tile.</summary>
    public int TileBytes => 2 * BlockN * HeadDim;

    /// <summary>Byte offset of the key tile of pipeline stage <paramref name="stage"/>, from the aligned start; Q sits at 0.</summary>
    public int KeyOffset(int stage) => 2 * BlockM * HeadDim + 2 * stage * TileBytes;

    /// <summary>Byte offset of the value tile of pipeline stage <paramref name="stage"/>.</summary>
    public int ValueOffset(int stage) => KeyOffset(stage) + TileBytes;

    /// <summary>Shared memory a group: Q, K and V once a stage, and the alignment slack.</summary>
    public int SharedBytes => KeyOffset(Stages) + (int)WarpGroupMma.SwizzleBytes;

    /// <summary>Bytes from the start of <paramref name="shared"/> to its first 1024-byte boundary (0 in the twins, whose address is 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint AlignedStart(SharedBlock shared) => (WarpGroupMma.SwizzleBytes - shared.Address % WarpGroupMma.SwizzleBytes) % WarpGroupMma.SwizzleBytes;
}

/// <summary>A <see cref="WarpGroupGeometry"/> carried by a type, so every size and offset folds at compile time.</summary>
internal interface IWarpGroupShape
{
    WarpGroupGeometry Geometry { get; }
}

/// <summary>
/// The geometry of <typeparamref name="TWarpGroups"/> warpgroups, <typeparamref name="TBlockN"/> keys,
/// <typeparamref name="THeadDim"/> features and <typeparamref name="TStages"/> pipeline stages.
/// </summary>
internal readonly struct WarpGroupShape<TWarpGroups, TBlockN, THeadDim, TStages> : IWarpGroupShape
    where TWarpGroups : struct, IConstant
    where TBlockN : struct, IConstant
    where THeadDim : struct, IConstant
    where TStages : struct, IConstant
{
    public WarpGroupGeometry Geometry =>
        new(default(TWarpGroups).Value, default(TBlockN).Value, default(THeadDim).Value, default(TStages).Value);
}
