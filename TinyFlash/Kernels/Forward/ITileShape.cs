using TinyFlash.Kernels.Shared;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// Where a kernel's <see cref="TileGeometry"/> comes from: compile-time constants carried by the type (every size,
/// pitch and offset folds, and shared loads take immediate offsets) or the launch's parameters.
/// </summary>
internal interface ITileShape
{
    /// <summary>The geometry to use, given the one the launch passed.</summary>
    TileGeometry Resolve(TileGeometry launched);
}

/// <summary>The constant geometry of <typeparamref name="TBlockM"/> rows, <typeparamref name="TThreadsX"/> threads across, <typeparamref name="THeadDim"/> features.</summary>
internal readonly struct TileShape<TBlockM, TThreadsX, THeadDim> : ITileShape
    where TBlockM : struct, IConstant
    where TThreadsX : struct, IConstant
    where THeadDim : struct, IConstant
{
    /// <inheritdoc/>
    public TileGeometry Resolve(TileGeometry launched) =>
        new(default(TBlockM).Value, default(TThreadsX).Value, default(THeadDim).Value);
}

/// <summary>
/// The geometry the launch passes, as runtime values: what OpenCL kernels use. With the geometry folded to constants,
/// PoCL 5.0 (continuation-based barriers) computed wrong outputs, differently from run to run, for head dimensions
/// whose output chunk count is not a power of two; with runtime values it passes every case. The cause (PoCL or
/// ILGPU's OpenCL generator) is not established.
/// </summary>
internal readonly struct RuntimeTileShape : ITileShape
{
    /// <inheritdoc/>
    public TileGeometry Resolve(TileGeometry launched) => launched;
}
