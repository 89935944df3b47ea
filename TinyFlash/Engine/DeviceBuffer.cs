using ILGPU;
using ILGPU.Runtime;

namespace TinyFlash.Engine;

/// <summary>A device buffer handed out by a <see cref="DeviceAllocator"/>, which counts it until it is disposed.</summary>
internal sealed class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private readonly DeviceAllocator owner;
    private readonly MemoryBuffer1D<T, Stride1D.Dense> buffer;
    private bool disposed;

    internal DeviceBuffer(DeviceAllocator owner, MemoryBuffer1D<T, Stride1D.Dense> buffer)
    {
        this.owner = owner;
        this.buffer = buffer;
    }

    /// <summary>The whole buffer as a view.</summary>
    public ArrayView<T> View => buffer.View;

    /// <summary>Frees the device memory.</summary>
    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        buffer.Dispose();
        owner.Released();
    }
}
