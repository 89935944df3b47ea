using System.CommandLine;
using TinyFlash.Bench.Measurement;
using TinyFlash.Numerics;
using TinyFlash.Reference;
using TinyFlash.Tiling;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>sweep</c>: a grid of attention shapes in one process, one JSON record each (the schema of
/// <see cref="RunRecord"/>): by default the grid of PyTorch's anchors on the H100, B·N = 16384 tokens and
/// H·d = 2048, N from 512 to 16384, plus N = 32768 and 65536 at batch 1 to show long sequences fit. Optionally
/// every given tile instead of the planner's (to choose tiles by measurement), and the inputs and outputs of the
/// shapes of one length written to files so that the PyTorch script can compare outputs on identical inputs.
/// </summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { DefaultValueFactory = _ => BackendKind.Auto, Description = "Accelerator." };
        var dtypes = new Option<ElementType[]>("--dtypes") { DefaultValueFactory = _ => [ElementType.Float16, ElementType.BFloat16], AllowMultipleArgumentsPerToken = true, Description = "Storage types." };
        var headDims = new Option<int[]>("--head-dims") { DefaultValueFactory = _ => [64, 128], AllowMultipleArgumentsPerToken = true, Description = "Head dimensions." };
        var seqs = new Option<int[]>("--seqs") { DefaultValueFactory = _ => [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536], AllowMultipleArgumentsPerToken = true, Description = "Sequence lengths (queries = keys)." };
        var causal = new Option<string>("--causal") { DefaultValueFactory = _ => "both", Description = "no, yes or both." };
        var tokens = new Option<int>("--tokens") { DefaultValueFactory = _ => 16384, Description = "Batch·N (batch is at least 1)." };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 2048, Description = "Heads·d." };
        var layout = new Option<AttentionLayout>("--layout") { DefaultValueFactory = _ => AttentionLayout.Bhsd, Description = "Tensor layout (PyTorch's is bhsd)." };
        var tiles = new Option<string[]>("--tensor-tiles") { AllowMultipleArgumentsPerToken = true, Description = "Time each of these tensor-core tiles (WARPSxROWTILESxBLOCKN, or wgWARPGROUPSxBLOCKN for the warpgroup kernel) instead of the planner's choice." };
        var tuned = new Option<bool>("--tuned") { Description = "Tune each shape first (recording it in the tuning cache), then time the planner's choice (impl tinyflash) and the tuned one (impl tinyflash-tuned) side by side, their samples interleaved." };
        var output = new Option<string>("--out", "-o") { Required = true, Description = "JSON-lines file to append the records to." };
        var dump = new Option<string?>("--dump") { Description = "Folder for inputs and outputs of the shapes of --dump-seq (for baselines/torch_sdpa.py --compare)." };
        var dumpSeq = new Option<int>("--dump-seq") { DefaultValueFactory = _ => 1024, Description = "Sequence length whose shapes are dumped." };
        var command = new Command("sweep", "Time a grid of shapes (one JSON record each), checking every output against the reference on sampled rows.")
            { backend, dtypes, headDims, seqs, causal, tokens, width, layout, tiles, tuned, output, dump, dumpSeq };
        command.SetAction(parse =>
        {
            using var engine = FlashEngine.Create(parse.GetValue(backend));
            Console.WriteLine($"sweep on {engine.Backend} {engine.DeviceName}");
            bool[] masks = parse.GetValue(causal) switch { "no" => [false], "yes" => [true], _ => [false, true] };
            int failures = 0;
            foreach (var type in parse.GetValue(dtypes)!)
            foreach (int d in parse.GetValue(headDims)!)
            foreach (bool isCausal in masks)
            foreach (int n in parse.GetValue(seqs)!)
            {
                var shape = new AttentionShape(Math.Max(1, parse.GetValue(tokens) / n), parse.GetValue(width) / d,
                    parse.GetValue(width) / d, n, n, d, parse.GetValue(layout));
                var options = new AttentionOptions { Causal = isCausal };
                var impls = new List<string>();
                ExecutionPlan?[] plans;
                if (parse.GetValue(tiles) is { Length: > 0 } forced)
                    plans = forced.Select(t => (ExecutionPlan?)new ExecutionPlan(ForwardPlan.ParseTensorCoreTile(t, d))).ToArray();
                else if (parse.GetValue(tuned))
                {
                    var result = engine.Tune(shape, options, type);
                    Console.WriteLine($"tuned {RunRecord.DtypeName(type)} d={d} {(isCausal ? "causal" : "full")} N={n}: " +
                                      string.Join(", ", result.Candidates.Select(c => $"{c.Plan} {c.Milliseconds:F4}")));
                    plans = [engine.DefaultPlanFor(shape, options, type), ExecutionPlan.Parse(result.Plan, d)];
                    impls.AddRange(["tinyflash", "tinyflash-tuned"]);
                }
                else
                    plans = [null];
                using var workload = AttentionWorkload.Create(engine, shape, options, type);
                // the plans timed side by side (planner against tuned), each plan alone otherwise
                double[]? interleaved = null;
                if (impls.Count > 0)
                {
                    try
                    {
                        interleaved = Timing.MeasureInterleaved(plans.Select(plan => (Action)(() => workload.Run(plan))).ToArray(),
                            () => engine.Accelerator.Synchronize()).Select(t => t.MedianMs).ToArray();
                    }
                    catch (Exception e) when (e is ArgumentException or NotSupportedException or TinyFlashException)
                    {
                        Console.WriteLine($"{RunRecord.DtypeName(type)} d={d} N={n} side by side: {e.GetType().Name}: {e.Message}");
                    }
                }
                for (int p = 0; p < plans.Length; p++)
                {
                    var plan = plans[p];
                    string impl = p < impls.Count ? impls[p] : "tinyflash";
                    string tile = (plan ?? engine.PlanFor(shape, options, type)).Describe();
                    try
                    {
                        double medianMs = interleaved?[p] ?? Timing.Measure(() => workload.Run(plan), () => engine.Accelerator.Synchronize()).MedianMs;
                        workload.Run(plan);
                        float[] result = workload.DownloadOutput();
                        var check = SampledCheck.Run(workload, result, rows: 16);
                        double tflops = AttentionFlops.Count(shape, options) / (medianMs * 1e-3) / 1e12;
                        bool passed = check.Error <= check.Bound;
                        failures += passed ? 0 : 1;
                        new RunRecord(impl, engine.DeviceName, RunRecord.DtypeName(type), d, isCausal, shape.Batch,
                            shape.QueryHeads, shape.KeyValueHeads, n, n, -1, -1, shape.Layout.ToString().ToLowerInvariant(),
                            medianMs, tflops, check.Error, DateTime.UtcNow.ToString("yyyy-MM-dd"), tile).AppendTo(parse.GetValue(output)!);
                        Console.WriteLine($"{impl,-16}{RunRecord.DtypeName(type),-8} d={d,-3} {(isCausal ? "causal" : "full  ")} B={shape.Batch,-2} H={shape.QueryHeads,-2} N={n,-5} " +
                                          $"{tile,-22} {medianMs,9:F3} ms {tflops,7:F1} TFLOP/s  err {check.Error:E2} {(passed ? "" : "FAIL")}");
                        if (parse.GetValue(dump) is string folder && n == parse.GetValue(dumpSeq) && plan == plans[0])
                            Dump(folder, workload, result);
                    }
                    catch (Exception e) when (e is ArgumentException or NotSupportedException or TinyFlashException)
                    {
                        failures++;
                        Console.WriteLine($"{RunRecord.DtypeName(type)} d={d} N={n} {tile}: {e.GetType().Name}: {e.Message}");
                    }
                }
            }
            return failures == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>
    /// Writes q, k, v as raw 16-bit (or 32-bit) little-endian elements, TinyFlash's output as float32, and a JSON
    /// header with the shape, so the PyTorch script can run its backends on identical inputs.
    /// </summary>
    private static void Dump(string folder, AttentionWorkload workload, float[] output)
    {
        Directory.CreateDirectory(folder);
        var s = workload.Shape;
        string name = $"{RunRecord.DtypeName(workload.Type)}-d{s.HeadDim}-{(workload.Options.Causal ? "causal" : "full")}-n{s.QueryLength}";
        string path = Path.Combine(folder, name);
        WriteElements(path + ".q.bin", workload.Query, workload.Type);
        WriteElements(path + ".k.bin", workload.Key, workload.Type);
        WriteElements(path + ".v.bin", workload.Value, workload.Type);
        WriteElements(path + ".out.bin", output, ElementType.Float32);
        File.WriteAllText(path + ".json",
            $$"""{"dtype": "{{RunRecord.DtypeName(workload.Type)}}", "batch": {{s.Batch}}, "heads": {{s.QueryHeads}}, "seq": {{s.QueryLength}}, "head_dim": {{s.HeadDim}}, "causal": {{(workload.Options.Causal ? "true" : "false")}}, "layout": "{{s.Layout.ToString().ToLowerInvariant()}}"}""");
    }

    private static void WriteElements(string path, float[] values, ElementType type)
    {
        using var stream = File.Create(path);
        using var writer = new BinaryWriter(stream);
        foreach (float x in values)
        {
            switch (type)
            {
                case ElementType.Float32: writer.Write(x); break;
                case ElementType.Float16: writer.Write(BitConverter.HalfToUInt16Bits((System.Half)x)); break;
                default: writer.Write(BFloat16Bits.FromFloat(x)); break;
            }
        }
    }
}
