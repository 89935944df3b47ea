namespace TinyFlash.Kernels;

/// <summary>
/// The version of the kernels' code and of the plans they take. Tuned configurations are recorded under it and
/// ignored once it changes; bump it with every change to a kernel, a tile geometry or the planner's plan format.
/// </summary>
internal static class KernelVersion
{
    /// <summary>The current version.</summary>
    public const string Current = "2026-12-07.3";
}
