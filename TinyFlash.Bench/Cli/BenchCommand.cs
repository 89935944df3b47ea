using System.CommandLine;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using TinyFlash.Bench.Suites;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>bench</c>: the BenchmarkDotNet suites, in-process (no generated project, so it runs from the self-contained
/// single file on machines without an SDK). Arguments after <c>bench</c> go to BenchmarkDotNet (<c>--filter</c>, …).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Run the BenchmarkDotNet suites in-process; further arguments go to BenchmarkDotNet.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(parse =>
        {
            // --inProcess makes every job, including those named on the command line, run in this process.
            var config = DefaultConfig.Instance
                .WithSummaryStyle(SummaryStyle.Default.WithMaxParameterColumnWidth(40))
                .WithOptions(ConfigOptions.DisableOptimizationsValidator);
            var summaries = BenchmarkSwitcher.FromTypes([typeof(AttentionBenchmarks)])
                .Run([.. parse.UnmatchedTokens, "--inProcess"], config);
            return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
        });
        return command;
    }
}
