using TinyFlash.Kernels.Shared;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>A <see cref="TensorCoreGeometry"/> carried by a type, so every size and offset folds at compile time.</summary>
internal interface ITensorCoreShape
{
    TensorCoreGeometry Geometry { get; }
}

/// <summary>
/// The geometry of <typeparamref name="TWarps"/> warps, <typeparamref name="TRowTiles"/> row tiles a warp,
/// <typeparamref name="TBlockN"/> keys, <typeparamref name="THeadDim"/> features and <typeparamref name="TStages"/>
/// pipeline stages.
/// </summary>
internal readonly struct TensorCoreShape<TWarps, TRowTiles, TBlockN, THeadDim, TStages> : ITensorCoreShape
    where TWarps : struct, IConstant
    where TRowTiles : struct, IConstant
    where TBlockN : struct, IConstant
    where THeadDim : struct, IConstant
    where TStages : struct, IConstant
{
    public TensorCoreGeometry Geometry =>
        new(default(TWarps).Value, default(TRowTiles).Value, default(TBlockN).Value, default(THeadDim).Value, default(TStages).Value);
}
