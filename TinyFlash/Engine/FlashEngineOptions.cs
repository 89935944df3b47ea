namespace TinyFlash;

/// <summary>How a <see cref="FlashEngine"/> plans, tunes and uses scratch memory. Every setting has a sensible default.</summary>
/// <example>
/// <code>
/// using var engine = FlashEngine.Create(BackendKind.Auto, new FlashEngineOptions { TuneOnFirstUse = true });
/// </code>
/// </example>
public sealed record FlashEngineOptions
{
    /// <summary>
    /// The tuning cache file (JSON). <c>null</c>: <c>tuning.json</c> in <c>$TINYFLASH_CACHE_DIR</c> if set, else
    /// TinyFlash's folder in the user's cache directory (<c>$XDG_CACHE_HOME</c> or <c>~/.cache</c> on Linux,
    /// <c>~/Library/Caches</c> on macOS, <c>%LOCALAPPDATA%</c> on Windows).
    /// </summary>
    public string? TuningCachePath { get; init; }

    /// <summary>Whether calls use configurations recorded by <see cref="FlashEngine.Tune"/> (here or in earlier processes).</summary>
    public bool UseTuningCache { get; init; } = true;

    /// <summary>
    /// Whether a call whose shape bucket has no tuned entry is tuned first, on the call's own tensors (the call then
    /// takes as long as the tuning, once per bucket and process; the result is recorded in the cache).
    /// </summary>
    public bool TuneOnFirstUse { get; init; }

    /// <summary>
    /// Most device memory the engine keeps for key-split partial outputs (the planner splits less rather than exceed
    /// it). Default 512 MiB.
    /// </summary>
    public long WorkspaceLimitBytes { get; init; } = 512L << 20;

    /// <summary>Receives warnings (a corrupt or stale tuning cache, for example); <c>null</c> sends them to <see cref="System.Diagnostics.Trace"/>.</summary>
    public Action<string>? Warning { get; init; }

    /// <summary>The defaults.</summary>
    public static FlashEngineOptions Default { get; } = new();
}
