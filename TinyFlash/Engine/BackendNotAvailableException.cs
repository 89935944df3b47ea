namespace TinyFlash;

/// <summary>The requested backend has no device on this machine.</summary>
public sealed class BackendNotAvailableException : TinyFlashException
{
    /// <summary>Creates the exception for <paramref name="requested"/>, listing what is present.</summary>
    public BackendNotAvailableException(BackendKind requested, IReadOnlyList<DeviceInfo> available)
        : base($"No {requested} device is available. Present: " +
               (available.Count == 0 ? "none" : string.Join("; ", available.Select(d => $"{d.Backend}: {d.Name}"))) + ".")
    {
        Requested = requested;
        Available = available;
    }

    /// <summary>The backend that was asked for.</summary>
    public BackendKind Requested { get; }

    /// <summary>The devices that are present.</summary>
    public IReadOnlyList<DeviceInfo> Available { get; }
}
