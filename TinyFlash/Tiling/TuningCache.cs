using System.Text.Json;
using System.Text.Json.Serialization;

namespace TinyFlash.Tiling;

/// <summary>
/// The persistent record of tuned configurations: one JSON file shared by every process of the user, one entry per
/// <see cref="TuningKey"/>. Writers take an exclusive lock on a side file, merge their entry into what is on disk
/// now (so concurrent tuners keep each other's results) and replace the file atomically (a reader never sees half a
/// file). A file that does not parse, has another format, or holds entries of other kernel versions is ignored with a
/// warning, never an exception; entries of other kernel versions are dropped at the next write.
/// </summary>
internal sealed class TuningCache(string path, Action<string> warn)
{
    /// <summary>The file format this code reads and writes.</summary>
    public const int Format = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);

    private readonly Lock gate = new();
    private Dictionary<TuningKey, Entry>? entries;

    /// <summary>The cache file.</summary>
    public string FilePath { get; } = Path.GetFullPath(path);

    /// <summary>
    /// <c>tuning.json</c> in <c>$TINYFLASH_CACHE_DIR</c>, else in TinyFlash's folder of the user's cache directory.
    /// </summary>
    public static string DefaultPath()
    {
        string? folder = Environment.GetEnvironmentVariable("TINYFLASH_CACHE_DIR");
        if (string.IsNullOrEmpty(folder))
        {
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            string root = OperatingSystem.IsWindows() ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
                : OperatingSystem.IsMacOS() ? Path.Combine(home, "Library", "Caches")
                : !string.IsNullOrEmpty(xdg) ? xdg
                : Path.Combine(home, ".cache");
            folder = Path.Combine(root, "TinyFlash");
        }
        return Path.Combine(folder, "tuning.json");
    }

    /// <summary>The configuration recorded for <paramref name="key"/>, if any (the file is read once, on first use).</summary>
    public (string Plan, double Milliseconds)? Find(TuningKey key)
    {
        lock (gate)
        {
            entries ??= Read(reportStale: true);
            return entries.TryGetValue(key, out var entry) ? (entry.Plan, entry.Ms) : null;
        }
    }

    /// <summary>Records <paramref name="result"/> under <paramref name="key"/>, merged with what other processes wrote.</summary>
    /// <exception cref="IOException">The cache's lock could not be taken within 30 seconds, or the file could not be written.</exception>
    public void Store(TuningKey key, TuningResult result)
    {
        lock (gate)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
            using var fileLock = AcquireLock();
            var merged = Read(reportStale: false);
            merged[key] = new Entry(key.Device, key.Driver, key.KernelVersion, key.Type, key.HeadDim, key.Mask, key.Bucket,
                result.Plan, result.Milliseconds, result.DefaultPlan, result.DefaultMilliseconds, DateTime.UtcNow.ToString("O"));
            string temporary = $"{FilePath}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(new CacheFile(Format, [.. merged.Values]), Json));
            File.Move(temporary, FilePath, overwrite: true);
            entries = merged;
        }
    }

    /// <summary>The current kernel version's entries on disk; anything unreadable is reported and skipped.</summary>
    private Dictionary<TuningKey, Entry> Read(bool reportStale)
    {
        var result = new Dictionary<TuningKey, Entry>();
        if (!File.Exists(FilePath))
            return result;
        CacheFile? file;
        try
        {
            file = JsonSerializer.Deserialize<CacheFile>(File.ReadAllText(FilePath), Json);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            warn($"TinyFlash: the tuning cache '{FilePath}' cannot be read ({e.Message}); it is ignored and will be rewritten by the next tuning.");
            return result;
        }
        if (file is null || file.Format != Format || file.Entries is null)
        {
            warn($"TinyFlash: the tuning cache '{FilePath}' is not in format {Format}; it is ignored and will be rewritten by the next tuning.");
            return result;
        }
        int stale = 0;
        foreach (var entry in file.Entries)
        {
            if (entry is null || entry.Plan is null || entry.Device is null || entry.Bucket is null)
                continue;
            if (entry.KernelVersion != Kernels.KernelVersion.Current)
            {
                stale++;
                continue;
            }
            result[new TuningKey(entry.Device, entry.Driver ?? "", entry.KernelVersion, entry.Dtype, entry.HeadDim, entry.Mask, entry.Bucket)] = entry;
        }
        if (stale > 0 && reportStale)
            warn($"TinyFlash: {stale} tuned configuration(s) in '{FilePath}' are for other kernel versions than {Kernels.KernelVersion.Current}; they are ignored (run Tune again).");
        return result;
    }

    private FileStream AcquireLock()
    {
        var deadline = DateTime.UtcNow + LockTimeout;
        while (true)
        {
            try
            {
                return new FileStream(FilePath + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(Random.Shared.Next(5, 25));
            }
        }
    }

    /// <summary>The file: a format number and the entries.</summary>
    private sealed record CacheFile(int Format, List<Entry>? Entries);

    /// <summary>One tuned configuration and where it came from.</summary>
    private sealed record Entry(string Device, string? Driver, string KernelVersion, ElementType Dtype, int HeadDim, MaskKind Mask,
        string Bucket, string Plan, double Ms, string? DefaultPlan, double DefaultMs, string? TunedAt);
}
