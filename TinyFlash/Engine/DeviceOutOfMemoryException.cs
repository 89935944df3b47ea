namespace TinyFlash;

/// <summary>
/// The device could not allocate a buffer. Nothing allocated by the failed call stays allocated, and the engine
/// remains usable with smaller inputs.
/// </summary>
public sealed class DeviceOutOfMemoryException : TinyFlashException
{
    /// <summary>Creates the exception for a failed allocation of <paramref name="requestedBytes"/> for <paramref name="tensor"/>.</summary>
    public DeviceOutOfMemoryException(string tensor, long requestedBytes, string deviceName, long deviceBytes, Exception? innerException = null)
        : base($"Device '{deviceName}' could not allocate {requestedBytes:N0} bytes for '{tensor}'" +
               (deviceBytes is > 0 and < long.MaxValue ? $" (device memory: {deviceBytes:N0} bytes)." : "."),
               innerException ?? new OutOfMemoryException())
    {
        Tensor = tensor;
        RequestedBytes = requestedBytes;
    }

    /// <summary>The tensor whose buffer could not be allocated.</summary>
    public string Tensor { get; }

    /// <summary>Bytes requested.</summary>
    public long RequestedBytes { get; }
}
