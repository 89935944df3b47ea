using System.CommandLine;
using TinyFlash.Bench.Reporting;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>report</c>: merges the JSON records of a sweep and of the PyTorch baselines (and their accuracy comparison)
/// into the generated section of <c>docs/benchmarks.md</c> and an SVG plot.
/// </summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("records") { Description = "JSON-lines files: sweep, torch_sdpa.py --grid and --compare output." };
        var markdown = new Option<string>("--markdown") { DefaultValueFactory = _ => "docs/benchmarks.md", Description = "Markdown file whose generated section is replaced (or appended)." };
        var plot = new Option<string?>("--plot") { Description = "SVG file for the plot (linked from the markdown by its path relative to it)." };
        var title = new Option<string>("--title") { DefaultValueFactory = _ => "Attention forward, TFLOP/s", Description = "Plot title." };
        var command = new Command("report", "Merge sweep and baseline records into docs/benchmarks.md and a plot.") { inputs, markdown, plot, title };
        command.SetAction(parse =>
        {
            string[] files = parse.GetValue(inputs)!;
            var report = new BenchmarkReport(BenchmarkRecord.Load(files));
            string target = parse.GetValue(markdown)!;
            string? plotPath = parse.GetValue(plot);
            string? link = null;
            if (plotPath is not null)
            {
                File.WriteAllText(plotPath, report.Plot(parse.GetValue(title)!));
                link = Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(target))!, Path.GetFullPath(plotPath));
            }
            BenchmarkReport.WriteInto(target, report.Markdown(files.Select(Path.GetFileName)!, link));
            Console.WriteLine($"wrote {target}{(plotPath is null ? "" : $" and {plotPath}")}");
            return 0;
        });
        return command;
    }
}
