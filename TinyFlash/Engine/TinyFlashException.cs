namespace TinyFlash;

/// <summary>Base type of the errors TinyFlash raises itself (argument errors use the <see cref="ArgumentException"/> family).</summary>
public class TinyFlashException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public TinyFlashException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public TinyFlashException(string message, Exception innerException) : base(message, innerException) { }
}
