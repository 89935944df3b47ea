using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace TinyFlash.Engine;

/// <summary>
/// The engine's device allocations: a failure is a <see cref="DeviceOutOfMemoryException"/> naming the tensor,
/// whatever the backend's own error type, a set of buffers is allocated all or nothing, and the allocator
/// counts what it has handed out so that a leak is observable.
/// </summary>
internal sealed class DeviceAllocator(Accelerator accelerator)
{
    private int live;

    /// <summary>Buffers allocated and not yet disposed.</summary>
    public int LiveBuffers => Volatile.Read(ref live);

    /// <summary>Allocates <paramref name="length"/> elements for <paramref name="tensor"/>.</summary>
    /// <exception cref="DeviceOutOfMemoryException">The device cannot hold the buffer.</exception>
    public DeviceBuffer<T> Allocate<T>(long length, string tensor) where T : unmanaged
    {
        long bytes = length > long.MaxValue / Interop.SizeOf<T>() ? long.MaxValue : length * Interop.SizeOf<T>();
        if (bytes > accelerator.MemorySize)
            throw new DeviceOutOfMemoryException(tensor, bytes, accelerator.Name, accelerator.MemorySize);
        MemoryBuffer1D<T, Stride1D.Dense> buffer;
        try
        {
            buffer = accelerator.Allocate1D<T>(length);
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            throw new DeviceOutOfMemoryException(tensor, bytes, accelerator.Name, accelerator.MemorySize, e);
        }
        Interlocked.Increment(ref live);
        return new DeviceBuffer<T>(this, buffer);
    }

    /// <summary>
    /// Allocates one buffer per entry of <paramref name="tensors"/>; if any allocation fails, the ones already made
    /// are freed before the exception leaves.
    /// </summary>
    public DeviceBuffer<T>[] AllocateAll<T>(IReadOnlyList<(long Length, string Tensor)> tensors) where T : unmanaged
    {
        var buffers = new List<DeviceBuffer<T>>(tensors.Count);
        try
        {
            foreach (var (length, tensor) in tensors)
                buffers.Add(Allocate<T>(length, tensor));
            return [.. buffers];
        }
        catch
        {
            foreach (var buffer in buffers)
                buffer.Dispose();
            throw;
        }
    }

    /// <summary>Called by a <see cref="DeviceBuffer{T}"/> when it is disposed.</summary>
    internal void Released() => Interlocked.Decrement(ref live);

    private static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        CudaException cuda => cuda.Error.Contains("OUT_OF_MEMORY", StringComparison.Ordinal),
        CLException cl => cl.Error is CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE or CLError.CL_OUT_OF_RESOURCES
            or CLError.CL_OUT_OF_HOST_MEMORY,
        _ => false,
    };
}
