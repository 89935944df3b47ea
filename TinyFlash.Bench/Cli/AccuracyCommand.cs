using System.CommandLine;
using System.Text;
using TinyFlash.Bench.Measurement;
using TinyFlash.Reference;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>accuracy</c>: the case for fp32 softmax statistics, measured. On the same random inputs (rounded to each
/// storage type), the error against the double reference of TinyFlash's fp32, fp16 and bf16 paths beside naive
/// attention in the same types, with the softmax in fp32 and entirely in the storage type.
/// </summary>
internal static class AccuracyCommand
{
    private static readonly (string Name, float ScaleFactor)[] Inputs = [("normal(0,1)", 1f), ("peaked: scores x8", 8f)];

    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { Description = "Accelerator.", DefaultValueFactory = _ => BackendKind.Auto };
        var lengths = new Option<int[]>("--seq") { Description = "Sequence lengths.", DefaultValueFactory = _ => [128, 512], AllowMultipleArgumentsPerToken = true };
        var headDims = new Option<int[]>("--head-dim") { Description = "Head dimensions.", DefaultValueFactory = _ => [64, 128], AllowMultipleArgumentsPerToken = true };
        var rows = new Option<int>("--rows") { Description = "Query rows sampled per configuration.", DefaultValueFactory = _ => 64 };
        var output = new Option<string>("--output", "-o") { Description = "Markdown report to write.", DefaultValueFactory = _ => "docs/accuracy.md" };
        var command = new Command("accuracy", "Measure the error of the fp32, fp16 and bf16 paths and of naive same-type attention; write a Markdown report.")
            { backend, lengths, headDims, rows, output };
        command.SetAction(parse =>
        {
            using var engine = FlashEngine.Create(parse.GetValue(backend));
            var report = new StringBuilder();
            report.AppendLine("# Accuracy: why the softmax statistics stay in fp32");
            report.AppendLine();
            report.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd} on {engine.Backend} {engine.DeviceName} with");
            report.AppendLine($"`TinyFlash.Bench accuracy {string.Join(' ', Environment.GetCommandLineArgs().Skip(2))}`.");
            report.AppendLine();
            report.AppendLine("Maximum absolute error against the double-precision reference, over " +
                              $"{parse.GetValue(rows)} sampled query rows of B=1, H=4 attention. Inputs are drawn once (normal, mean 0, " +
                              "variance 1) and rounded to each storage type; each column is compared with the reference computed on " +
                              "its own rounded inputs, so the figures measure the arithmetic, not the rounding of the inputs. " +
                              "*Naive* is attention the way a framework without a fused kernel computes it: scores, probabilities " +
                              "and output rounded to the storage type, softmax either in fp32 or entirely in the storage type " +
                              "(max, exponentials and their running sum). The *peaked* inputs multiply the scores by 8, which " +
                              "concentrates the softmax on few keys.");
            report.AppendLine();
            report.AppendLine("| S | d | causal | inputs | TinyFlash fp32 | TinyFlash fp16 | naive fp16, fp32 softmax | naive fp16, fp16 softmax | TinyFlash bf16 | naive bf16, fp32 softmax | naive bf16, bf16 softmax |");
            report.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (int s in parse.GetValue(lengths)!)
            foreach (int d in parse.GetValue(headDims)!)
            foreach (bool causal in new[] { false, true })
            foreach (var (name, factor) in Inputs)
            {
                var shape = new AttentionShape(1, 4, 4, s, s, d);
                var options = new AttentionOptions { Causal = causal, Scale = factor / MathF.Sqrt(d) };
                double fp32 = Errors(engine, shape, options, ElementType.Float32, parse.GetValue(rows)).Kernel;
                var fp16 = Errors(engine, shape, options, ElementType.Float16, parse.GetValue(rows));
                var bf16 = Errors(engine, shape, options, ElementType.BFloat16, parse.GetValue(rows));
                string line = $"| {s} | {d} | {(causal ? "yes" : "no")} | {name} | {fp32:E1} | {fp16.Kernel:E1} | {fp16.Naive:E1} | " +
                              $"{fp16.NaiveInStorage:E1} | {bf16.Kernel:E1} | {bf16.Naive:E1} | {bf16.NaiveInStorage:E1} |";
                report.AppendLine(line);
                Console.WriteLine(line);
            }
            report.AppendLine();
            report.AppendLine("TinyFlash's fp16 and bf16 paths read fp16/bf16 and keep scores, running max, running sum and the " +
                              "output accumulator in fp32, so their error is set by the rounding of the output alone; the naive " +
                              "computation also rounds scores and probabilities, and summing probabilities in fp16 or bf16 loses " +
                              "the small terms once the sum is large.");
            string path = parse.GetValue(output)!;
            File.WriteAllText(path, report.ToString());
            Console.WriteLine($"Wrote {path}");
            return 0;
        });
        return command;
    }

    private static (double Kernel, double Naive, double NaiveInStorage) Errors(FlashEngine engine, AttentionShape shape,
        AttentionOptions options, ElementType type, int rows)
    {
        using var workload = AttentionWorkload.Create(engine, shape, options, type, seed: 11);
        workload.Run();
        float[] output = workload.DownloadOutput();
        int d = shape.HeadDim;
        var round = NaiveAttention.RoundingOf(type);
        var doubleScores = new double[shape.KeyLength];
        var floatScores = new float[shape.KeyLength];
        var reference = new double[d];
        var naive = new float[d];
        var random = new Random(3);
        double kernelError = 0, naiveError = 0, storageError = 0;
        for (int r = 0; r < rows; r++)
        {
            int h = random.Next(shape.QueryHeads), i = random.Next(shape.QueryLength);
            ReferenceAttention.Row(workload.Query, workload.Key, workload.Value, shape, options, options.Scale!.Value, 0, h, i, doubleScores, reference);
            kernelError = Math.Max(kernelError, AccuracyRule.MaxAbsoluteError(output.AsSpan(ReferenceAttention.QueryIndex(shape, 0, h, i), d), reference));
            if (type == ElementType.Float32)
                continue;
            NaiveAttention.Row(workload.Query, workload.Key, workload.Value, shape, options, options.Scale.Value, round, false, 0, h, i, floatScores, naive);
            naiveError = Math.Max(naiveError, AccuracyRule.MaxAbsoluteError(naive, reference));
            NaiveAttention.Row(workload.Query, workload.Key, workload.Value, shape, options, options.Scale.Value, round, true, 0, h, i, floatScores, naive);
            storageError = Math.Max(storageError, AccuracyRule.MaxAbsoluteError(naive, reference));
        }
        return (kernelError, naiveError, storageError);
    }
}
