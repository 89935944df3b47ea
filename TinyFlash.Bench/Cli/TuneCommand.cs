using System.CommandLine;
using System.Text.Json;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>tune</c>: times every configuration the planner deems legal for one shape on the chosen device (a progress bar
/// over the candidates), records the fastest in the tuning cache, and prints each candidate beside the planner's choice.
/// </summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var problem = new ProblemOptions();
        var cache = new Option<string?>("--cache") { Description = "Tuning cache file (default: $TINYFLASH_CACHE_DIR or the user's cache directory)." };
        var json = new Option<string?>("--json") { Description = "Append the result as one JSON line to this file." };
        var command = new Command("tune", "Time the candidate tiles and key splits for a shape and record the fastest in the tuning cache.");
        problem.AddTo(command);
        command.Options.Add(cache);
        command.Options.Add(json);
        command.SetAction(parse =>
        {
            var shape = problem.Shape(parse);
            var type = parse.GetValue(problem.Type);
            using var engine = FlashEngine.Create(parse.GetValue(problem.Backend), new FlashEngineOptions
            {
                TuningCachePath = parse.GetValue(cache),
                Warning = message => Console.Error.WriteLine(message),
            });
            Console.WriteLine($"tuning on {engine.Backend} {engine.DeviceName}: B={shape.Batch} Hq={shape.QueryHeads} Hkv={shape.KeyValueHeads} " +
                              $"Sq={shape.QueryLength} Sk={shape.KeyLength} d={shape.HeadDim} {type}");
            var result = engine.Tune(shape, problem.Options(parse), type, new ProgressBar());
            Console.WriteLine();
            foreach (var candidate in result.Candidates)
                Console.WriteLine($"  {candidate.Plan,-40} {(candidate.Milliseconds is double ms ? $"{ms,10:F4} ms" : $"failed: {candidate.Error}")}" +
                                  (candidate.Plan == result.Plan ? "  <- fastest" : "") + (candidate.Plan == result.DefaultPlan ? "  (planner)" : ""));
            Console.WriteLine($"chosen: {result.Plan}, {result.Speedup:F3}x the planner's {result.DefaultPlan}");
            Console.WriteLine($"recorded in {engine.TuningCachePath} under {result.CacheKey}");
            if (parse.GetValue(json) is string path)
                File.AppendAllText(path, JsonSerializer.Serialize(result) + Environment.NewLine);
            return 0;
        });
        return command;
    }

    /// <summary>A one-line progress bar over the candidates, redrawn in place.</summary>
    private sealed class ProgressBar : IProgress<TuningProgress>
    {
        public void Report(TuningProgress value)
        {
            const int width = 30;
            int filled = width * value.Done / value.Total;
            string time = value.Candidate.Milliseconds is double ms ? $"{ms:F4} ms" : "failed";
            Console.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {value.Done}/{value.Total} {value.Candidate.Plan}: {time}".PadRight(100));
        }
    }
}
