using System.Text.Json.Nodes;
using TinyFlash.Kernels;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Tiling;

/// <summary>
/// The autotuner and its persistent cache on ILGPU's CPU accelerator: results are recorded and used by later
/// engines, a corrupt or stale file is a warning and never an exception, concurrent writers keep each other's
/// entries, and bad requests are refused.
/// </summary>
public class TuningTests
{
    private static readonly AttentionShape Small = new(1, 2, 1, 24, 40, 32);
    private string folder = "";
    private readonly List<string> warnings = [];

    [SetUp]
    public void CreateFolder()
    {
        folder = Path.Combine(Path.GetTempPath(), "tinyflash-tuning-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        warnings.Clear();
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(folder, recursive: true);

    private string CachePath => Path.Combine(folder, "tuning.json");

    private FlashEngine CreateEngine(bool tuneOnFirstUse = false) =>
        FlashEngine.Create(TestBackend.Cpu.First().Engine.Accelerator, new FlashEngineOptions
        {
            TuningCachePath = CachePath,
            TuneOnFirstUse = tuneOnFirstUse,
            Warning = warnings.Add,
        });

    [Test]
    public void Tune_records_the_fastest_candidate_and_a_later_engine_uses_it()
    {
        TuningResult result;
        using (var engine = CreateEngine())
            result = engine.Tune(Small, new AttentionOptions { Causal = true }, ElementType.Float32);

        Assert.That(result.Candidates, Is.Not.Empty);
        Assert.That(result.Candidates.Select(c => c.Milliseconds), Is.All.Positive);
        Assert.That(result.Milliseconds, Is.EqualTo(result.Candidates.Min(c => c.Milliseconds)));
        Assert.That(result.Milliseconds, Is.LessThanOrEqualTo(result.DefaultMilliseconds), "the default is a candidate");
        var entries = JsonNode.Parse(File.ReadAllText(CachePath))!["entries"]!.AsArray();
        Assert.That(entries, Has.Count.EqualTo(1));
        Assert.That((string)entries[0]!["plan"]!, Is.EqualTo(result.Plan));
        Assert.That((string)entries[0]!["kernel_version"]!, Is.EqualTo(KernelVersion.Current));

        using var later = CreateEngine();
        Assert.That(later.PlanFor(Small, new AttentionOptions { Causal = true }, ElementType.Float32).Describe(), Is.EqualTo(result.Plan));
        Assert.That(warnings, Is.Empty);
    }

    [Test]
    public void A_calls_bucket_takes_the_recorded_configuration_over_the_planners()
    {
        using (var engine = CreateEngine())
            engine.Tune(Small, null, ElementType.Float32);
        RewritePlans("portable 8x2");

        using var later = CreateEngine();
        var sameBucket = Small with { QueryLength = 30, KeyLength = 33 };
        Assert.That(later.PlanFor(sameBucket, null, ElementType.Float32).Describe(), Is.EqualTo("portable 8x2"));
        Inputs.AssertEngineWorks(later);
        Assert.That(later.PlanFor(Small with { KeyLength = 4000 }, null, ElementType.Float32).Describe(),
            Is.Not.EqualTo("portable 8x2"), "another key-length bucket is not tuned");
    }

    [Test]
    public void A_corrupt_cache_is_a_warning_the_planner_takes_over_and_the_next_tuning_rewrites_it()
    {
        File.WriteAllText(CachePath, "{ \"format\": 1, \"entries\": [ {\"device\": ");
        using var engine = CreateEngine();
        Assert.That(engine.PlanFor(Small, null, ElementType.Float32), Is.Not.Null);
        Assert.That(warnings, Has.One.Contains("cannot be read"));

        engine.Tune(Small, null, ElementType.Float32);
        Assert.That(JsonNode.Parse(File.ReadAllText(CachePath))!["entries"]!.AsArray(), Has.Count.EqualTo(1));
    }

    [Test]
    public void Entries_of_another_kernel_version_are_ignored_with_a_warning()
    {
        using (var engine = CreateEngine())
            engine.Tune(Small, null, ElementType.Float32);
        RewritePlans("portable 8x2", kernelVersion: "0-old");

        using var later = CreateEngine();
        Assert.That(later.PlanFor(Small, null, ElementType.Float32).Describe(), Is.Not.EqualTo("portable 8x2"));
        Assert.That(warnings, Has.One.Contains("other kernel versions"));
    }

    [Test]
    public void A_recorded_configuration_that_does_not_fit_is_a_warning()
    {
        using (var engine = CreateEngine())
            engine.Tune(Small, null, ElementType.Float32);
        RewritePlans("portable 4096x64");

        using var later = CreateEngine();
        Assert.That(later.PlanFor(Small, null, ElementType.Float32).Describe(), Is.Not.EqualTo("portable 4096x64"));
        Assert.That(warnings, Has.One.Contains("does not fit"));
    }

    [Test]
    public void Concurrent_writers_keep_each_others_entries()
    {
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            var cache = new TuningCache(CachePath, warnings.Add);
            for (int i = 0; i < 10; i++)
            {
                var key = new TuningKey("device", "driver", KernelVersion.Current, ElementType.Float16, 64, MaskKind.None, $"writer{w}-{i}");
                cache.Store(key, new TuningResult("portable 8x2", 1, "portable 8x2", 1, [], key.ToString()));
            }
        })).ToArray();
        Task.WaitAll(writers);

        Assert.That(JsonNode.Parse(File.ReadAllText(CachePath))!["entries"]!.AsArray(), Has.Count.EqualTo(40));
        Assert.That(Directory.GetFiles(folder, "*.tmp"), Is.Empty, "every temporary file was renamed into place");
    }

    [Test]
    public void Tune_on_first_use_tunes_a_new_bucket_once_on_the_callers_tensors()
    {
        using var engine = CreateEngine(tuneOnFirstUse: true);
        Inputs.AssertEngineWorks(engine);
        Assert.That(File.Exists(CachePath), Is.True, "the first call of a bucket tuned it");
        string first = File.ReadAllText(CachePath);
        Inputs.AssertEngineWorks(engine);
        Assert.That(File.ReadAllText(CachePath), Is.EqualTo(first), "the second call of the bucket did not tune again");
    }

    [Test]
    public void Tuning_a_disposed_engine_or_an_unsupported_shape_is_refused()
    {
        var engine = CreateEngine();
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.Tune(Small with { HeadDim = 48 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => engine.Tune(Small, null, (ElementType)9));
        Assert.Throws<ArgumentException>(() => engine.Tune(Small, new AttentionOptions { CacheLengths = [1, 2] }));
        Inputs.AssertEngineWorks(engine);
        engine.Dispose();
        Assert.Throws<ObjectDisposedException>(() => engine.Tune(Small));
        Assert.Throws<ObjectDisposedException>(() => engine.Warmup(Small));
    }

    [Test]
    public void Warmup_compiles_the_kernels_of_a_call_once()
    {
        using var engine = CreateEngine();
        var shape = new AttentionShape(1, 1, 1, 5, 5, 160);
        int before = engine.CompiledKernels;
        engine.Warmup(shape, null, ElementType.BFloat16);
        Assert.That(engine.CompiledKernels, Is.GreaterThan(before));
        int after = engine.CompiledKernels;
        Assert.That(engine.Warmup(shape, null, ElementType.BFloat16), Is.LessThan(TimeSpan.FromSeconds(1)), "nothing left to compile");
        Assert.That(engine.CompiledKernels, Is.EqualTo(after));

        engine.Warmup([(shape with { HeadDim = 96 }, null, ElementType.Float32), (shape, new AttentionOptions { Causal = true }, ElementType.BFloat16)]);
        Assert.That(engine.CompiledKernels, Is.EqualTo(after + 1), "a list compiles what it has not compiled yet, once");
    }

    [Test]
    public void The_default_cache_lives_in_TINYFLASH_CACHE_DIR_when_it_is_set()
    {
        string? previous = Environment.GetEnvironmentVariable("TINYFLASH_CACHE_DIR");
        try
        {
            Environment.SetEnvironmentVariable("TINYFLASH_CACHE_DIR", folder);
            Assert.That(TuningCache.DefaultPath(), Is.EqualTo(Path.Combine(folder, "tuning.json")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("TINYFLASH_CACHE_DIR", previous);
        }
    }

    /// <summary>Rewrites every entry's plan (and optionally its kernel version) as another process or version might have.</summary>
    private void RewritePlans(string plan, string? kernelVersion = null)
    {
        var file = JsonNode.Parse(File.ReadAllText(CachePath))!;
        foreach (var entry in file["entries"]!.AsArray())
        {
            entry!["plan"] = plan;
            if (kernelVersion is not null)
                entry["kernel_version"] = kernelVersion;
        }
        File.WriteAllText(CachePath, file.ToJsonString());
    }
}
