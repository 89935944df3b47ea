using System.CommandLine;
using System.Diagnostics;
using System.Text;
using TinyFlash.Reference;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>verify</c>: the tests' correctness matrix (or, with <c>--backward</c>, the backward matrix; with <c>--norm</c>,
/// the fused norm's) on one backend against the double reference, as a pass/fail table.
/// How a user checks their own hardware, and how the CUDA and OpenCL backends are checked where no SDK runs tests.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { Description = "Accelerator to verify.", DefaultValueFactory = _ => BackendKind.Auto };
        var filter = new Option<string?>("--filter") { Description = "Only cases whose description contains this text (or one of several, separated by '|')." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the table as Markdown to this file." };
        var backward = new Option<bool>("--backward") { Description = "Run the backward matrix (dq, dk, dv against the closed-form gradients) instead." };
        var instructions = new Option<bool>("--instructions")
        {
            Description = "Check the warpgroup products (Hopper's wgmma) on known operands against the host first, as the tests check their twins.",
        };
        var norm = new Option<bool>("--norm") { Description = "Run the fused norm's matrix (forward and backward against NormReference) instead." };
        var command = new Command("verify", "Run the correctness matrix on a backend and print a pass/fail table.")
            { backend, filter, markdown, backward, instructions, norm };
        command.SetAction(parse =>
        {
            using var engine = FlashEngine.Create(parse.GetValue(backend));
            if (parse.GetValue(norm))
                return VerifyNorm(engine, parse.GetValue(filter), parse.GetValue(markdown));
            if (parse.GetValue(instructions) && !CheckInstructions(engine))
                return 1;
            bool gradients = parse.GetValue(backward);
            var cases = (gradients ? AttentionVerifier.BackwardMatrix() : AttentionVerifier.StandardMatrix())
                .Where(c => Selected(parse.GetValue(filter), c))
                .ToList();
            return Tabulate(engine, cases, "cases", "", "| case | error | bound | lse error | result |", parse.GetValue(markdown), c =>
            {
                var result = gradients ? AttentionVerifier.RunBackward(engine, c) : AttentionVerifier.Run(engine, c);
                string verdict = result.Passed ? "pass" : "FAIL";
                // The backward's error is its worst gradient's; it has no log-sum-exp of its own.
                string lse = gradients ? "-" : $"{result.LogSumExpError:E2}";
                return (result.Passed, $"{verdict,-5} {result.Error,10:E2} <= {result.Bound,9:E2}  lse {lse,9}  {c}",
                    $"{result.Error:E2} | {result.Bound:E2} | {lse} | {verdict}");
            });
        });
        return command;
    }

    /// <summary>Whether a case's description passes the <c>--filter</c> text (one of its '|'-separated parts).</summary>
    private static bool Selected(string? filter, object c) =>
        filter is null || filter.Split('|').Any(part => c.ToString()!.Contains(part, StringComparison.OrdinalIgnoreCase));

    /// <summary><see cref="NormVerifier.Matrix"/> on the engine: a line a case, its worst check against its bound.</summary>
    private static int VerifyNorm(FlashEngine engine, string? filter, string? markdown)
    {
        var cases = NormVerifier.Matrix().Where(c => Selected(filter, c)).ToList();
        return Tabulate(engine, cases, "norm cases", " norm cases", "| case | worst check (error / bound) | result |", markdown, c =>
        {
            var checks = NormVerifier.Run(engine, c);
            var worst = checks.MaxBy(check => check.Bound > 0 ? check.Error / check.Bound : check.Error)!;
            bool passed = checks.All(check => check.Passed);
            string verdict = passed ? "pass" : "FAIL " + string.Join(", ", checks.Where(check => !check.Passed).Select(check => check.Quantity));
            return (passed, $"{verdict,-5} {worst.Quantity,-12} {worst.Error,10:E2} <= {worst.Bound,9:E2}  {c}",
                $"{worst.Quantity} {worst.Error:E2} / {worst.Bound:E2} | {verdict}");
        });
    }

    /// <summary>
    /// Runs every case, printing a line a case and building a Markdown table of <paramref name="header"/>'s columns
    /// (<paramref name="run"/> gives the cells after the case's); a case that throws the engine's or ILGPU's exception
    /// counts as failed with its message. Writes the table to <paramref name="markdown"/> if given; 0 when all passed.
    /// </summary>
    private static int Tabulate<TCase>(FlashEngine engine, IReadOnlyList<TCase> cases, string noun, string summaryNoun, string header,
        string? markdown, Func<TCase, (bool Passed, string Line, string Cells)> run) where TCase : notnull
    {
        var table = new StringBuilder();
        table.AppendLine($"Device: {engine.Backend} {engine.DeviceName}, {DateTime.UtcNow:yyyy-MM-dd}");
        table.AppendLine();
        table.AppendLine(header);
        int columns = header.Count(ch => ch == '|') - 1;
        table.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", columns)));
        Console.WriteLine($"Verifying {cases.Count} {noun} on {engine.Backend} {engine.DeviceName}");
        int failures = 0;
        var watch = Stopwatch.StartNew();
        foreach (var c in cases)
        {
            try
            {
                var (passed, line, cells) = run(c);
                failures += passed ? 0 : 1;
                Console.WriteLine(line);
                table.AppendLine($"| {c} | {cells} |");
            }
            catch (Exception e) when (e is TinyFlashException or ILGPU.Runtime.AcceleratorException)
            {
                Console.WriteLine($"ERROR {c}: {e.Message}");
                table.AppendLine($"| {c} |{string.Concat(Enumerable.Repeat(" |", columns - 2))} ERROR: {e.Message.ReplaceLineEndings(" ")} |");
                failures++;
            }
        }
        string summary = $"{cases.Count - failures}/{cases.Count}{summaryNoun} passed on {engine.Backend} {engine.DeviceName} in {watch.Elapsed.TotalSeconds:F1} s";
        Console.WriteLine(summary);
        table.AppendLine().AppendLine(summary + ".");
        if (markdown is string path)
            File.WriteAllText(path, table.ToString());
        return failures == 0 ? 0 : 1;
    }

    /// <summary>The warpgroup product check (<see cref="WarpGroupCheck"/>) for fp16 and bf16; false if one fails.</summary>
    private static bool CheckInstructions(FlashEngine engine)
    {
        if (!engine.Forward.WarpGroups)
        {
            Console.WriteLine($"{engine.DeviceName} has no warpgroup products (they need compute capability 9.0).");
            return true;
        }
        bool passed = true;
        foreach (var type in new[] { ElementType.Float16, ElementType.BFloat16 })
        {
            var (sharedShared, registerShared) = WarpGroupCheck.Run(engine, type);
            bool ok = sharedShared < WarpGroupCheck.Tolerance && registerShared < WarpGroupCheck.Tolerance;
            passed &= ok;
            Console.WriteLine($"{(ok ? "pass" : "FAIL"),-5} warpgroup products, {type}: A·Bᵀ from shared memory error {sharedShared:E2}, " +
                              $"A·B with A in registers error {registerShared:E2}");
        }
        return passed;
    }
}
