namespace TinyFlash.Tiling;

/// <summary>
/// A forward-pass configuration: which kernel family runs and with which tile. The planner proposes them; the
/// sweep and the tile measurements force them.
/// </summary>
internal abstract record ForwardPlan
{
    /// <summary>Features per head.</summary>
    public abstract int HeadDim { get; }

    /// <summary>Query rows a group owns.</summary>
    public abstract int BlockM { get; }

    /// <summary>Threads a group.</summary>
    public abstract int Threads { get; }

    /// <summary>Shared memory a group, in bytes.</summary>
    public abstract long SharedBytes { get; }

    /// <summary>A short description for records and logs, e.g. <c>portable 128x16</c> or <c>tensor-core 4x2x64</c>.</summary>
    public abstract string Describe();
}
