using System.CommandLine;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
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
            var config = DefaultConfig.Instance
                .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance))
                .WithOptions(ConfigOptions.DisableOptimizationsValidator);
            var summaries = BenchmarkSwitcher.FromTypes([typeof(AttentionBenchmarks)])
                .Run([.. parse.UnmatchedTokens], config);
            return summaries.Any(s => s.HasCriticalValidationErrors) ? 1 : 0;
        });
        return command;
    }
}
