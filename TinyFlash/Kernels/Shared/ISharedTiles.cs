using ILGPU;

namespace TinyFlash.Kernels.Shared;

/// <summary>
/// Where a group's tiles live in shared memory: the whole block as one <see cref="Registers.Float4"/> view, which the
/// kernel partitions by the offsets of its tiling. Two sources, chosen per backend when the kernel is specialised.
/// </summary>
internal interface ISharedTiles
{
    /// <summary>The group's shared block.</summary>
    ArrayView<Registers.Float4> Block();
}

/// <summary>
/// Dynamic shared memory, sized at launch: what CUDA needs (static shared memory stops at 48 KiB there) and what the
/// CPU accelerator runs. Taken as floats and viewed as <see cref="Registers.Float4"/>: ILGPU 1.5.3's OpenCL generator
/// emits an invalid cast (<c>()16</c>) for the element count of <c>GetDynamic</c> of a struct.
/// </summary>
internal readonly struct DynamicSharedTiles : ISharedTiles
{
    /// <inheritdoc/>
    public ArrayView<Registers.Float4> Block() => SharedMemory.GetDynamic<float>().Cast<Registers.Float4>();
}

/// <summary>
/// A static shared allocation of <typeparamref name="TFloat4s"/> 16-byte elements, for OpenCL: ILGPU 1.5.3 declares
/// the pointer to dynamic local memory at program scope, so on a device whose work-groups run concurrently with
/// separate local buffers (PoCL's CPU device) every group would read another's tiles. A static allocation used only
/// inside the kernel is declared inside it.
/// </summary>
internal readonly struct StaticSharedTiles<TFloat4s> : ISharedTiles where TFloat4s : struct, IConstant
{
    /// <inheritdoc/>
    public ArrayView<Registers.Float4> Block() =>
        SharedMemory.Allocate<float>(4 * default(TFloat4s).Value).Cast<Registers.Float4>();
}
