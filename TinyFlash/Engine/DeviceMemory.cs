using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace TinyFlash.Engine;

/// <summary>
/// Device allocations that fail with a <see cref="DeviceOutOfMemoryException"/> naming the tensor, whatever the
/// backend's own error type, and that never leave a partial set of buffers behind.
/// </summary>
internal static class DeviceMemory
{
    /// <summary>Allocates <paramref name="length"/> elements for <paramref name="tensor"/>.</summary>
    /// <exception cref="DeviceOutOfMemoryException">The device cannot hold the buffer.</exception>
    public static MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(Accelerator accelerator, long length, string tensor)
        where T : unmanaged
    {
        long bytes = length > long.MaxValue / Interop.SizeOf<T>() ? long.MaxValue : length * Interop.SizeOf<T>();
        if (bytes > accelerator.MemorySize)
            throw new DeviceOutOfMemoryException(tensor, bytes, accelerator.Name, accelerator.MemorySize);
        try
        {
            return accelerator.Allocate1D<T>(length);
        }
        catch (Exception e) when (IsOutOfMemory(e))
        {
            throw new DeviceOutOfMemoryException(tensor, bytes, accelerator.Name, accelerator.MemorySize, e);
        }
    }

    /// <summary>
    /// Allocates one buffer per entry of <paramref name="lengths"/>; if any allocation fails, the ones already made
    /// are freed before the exception leaves.
    /// </summary>
    public static MemoryBuffer1D<T, Stride1D.Dense>[] AllocateAll<T>(Accelerator accelerator,
        IReadOnlyList<(long Length, string Tensor)> lengths) where T : unmanaged
    {
        var buffers = new List<MemoryBuffer1D<T, Stride1D.Dense>>(lengths.Count);
        try
        {
            foreach (var (length, tensor) in lengths)
                buffers.Add(Allocate<T>(accelerator, length, tensor));
            return [.. buffers];
        }
        catch
        {
            foreach (var buffer in buffers)
                buffer.Dispose();
            throw;
        }
    }

    private static bool IsOutOfMemory(Exception e) => e switch
    {
        OutOfMemoryException => true,
        CudaException cuda => cuda.Error.Contains("OUT_OF_MEMORY", StringComparison.Ordinal),
        CLException cl => cl.Error is CLError.CL_MEM_OBJECT_ALLOCATION_FAILURE or CLError.CL_OUT_OF_RESOURCES
            or CLError.CL_OUT_OF_HOST_MEMORY,
        _ => false,
    };
}
