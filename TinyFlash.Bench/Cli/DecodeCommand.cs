using System.CommandLine;
using TinyFlash.Bench.Measurement;
using TinyFlash.Reference;
using TinyFlash.Tiling;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>decode</c>: the decode step of a language model, a few new queries against a key/value cache, timed over a grid
/// of batch sizes and cache lengths (layout [B, H, S, D] as PyTorch's). Decode is memory-bound, so besides time each
/// record carries the key/value bandwidth: 2·B·Hkv·Sk·d·bytes read over the time. Every output is checked against
/// the double reference on sampled rows. With <c>--cache-lengths full</c> the call passes every sequence's length
/// explicitly (the per-sequence path, with its small upload), which gives the same result.
/// </summary>
internal static class DecodeCommand
{
    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { DefaultValueFactory = _ => BackendKind.Auto, Description = "Accelerator." };
        var type = new Option<ElementType>("--dtype") { DefaultValueFactory = _ => ElementType.Float16, Description = "Storage type." };
        var headDim = new Option<int>("--head-dim", "-d") { DefaultValueFactory = _ => 128, Description = "Head dimension." };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 32, Description = "Query heads." };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => 8, Description = "Key/value heads." };
        var queries = new Option<int>("--queries") { DefaultValueFactory = _ => 1, Description = "New queries per sequence (1 to 16)." };
        var batches = new Option<int[]>("--batches") { DefaultValueFactory = _ => [1, 8], AllowMultipleArgumentsPerToken = true, Description = "Batch sizes." };
        var keys = new Option<int[]>("--keys") { DefaultValueFactory = _ => [4096, 32768], AllowMultipleArgumentsPerToken = true, Description = "Cache lengths." };
        var lengths = new Option<string>("--cache-lengths") { DefaultValueFactory = _ => "none", Description = "none (every sequence fills the cache) or full (the same, passed as per-sequence lengths)." };
        var tuned = new Option<bool>("--tuned") { Description = "Tune each shape first, then time the planner's choice (impl tinyflash) and the tuned one (impl tinyflash-tuned)." };
        var layout = new Option<AttentionLayout>("--layout") { DefaultValueFactory = _ => AttentionLayout.Bhsd, Description = "bhsd (PyTorch's, the default) or bshd (FlashAttention's)." };
        var output = new Option<string>("--out", "-o") { Required = true, Description = "JSON-lines file to append the records to." };
        var command = new Command("decode", "Time decode (few queries against a key/value cache) over batch sizes and cache lengths, with bandwidth.")
            { backend, type, headDim, heads, kvHeads, queries, batches, keys, lengths, tuned, layout, output };
        command.SetAction(parse =>
        {
            using var engine = FlashEngine.Create(parse.GetValue(backend));
            Console.WriteLine($"decode on {engine.Backend} {engine.DeviceName}");
            var dtype = parse.GetValue(type);
            int d = parse.GetValue(headDim), elementSize = dtype == ElementType.Float32 ? 4 : 2;
            bool explicitLengths = parse.GetValue(lengths) == "full";
            int failures = 0;
            foreach (int batch in parse.GetValue(batches)!)
            foreach (int sk in parse.GetValue(keys)!)
            {
                var shape = new AttentionShape(batch, parse.GetValue(heads), parse.GetValue(kvHeads), parse.GetValue(queries), sk, d, parse.GetValue(layout));
                var options = new AttentionOptions { Causal = true, CacheLengths = explicitLengths ? Enumerable.Repeat(sk, batch).ToArray() : null };
                var runs = new List<(string Impl, ExecutionPlan Plan)>();
                if (parse.GetValue(tuned))
                {
                    var result = engine.Tune(shape, options, dtype);
                    Console.WriteLine($"tuned B={batch} Sk={sk}: " + string.Join(", ", result.Candidates.Select(c => $"{c.Plan} {c.Milliseconds * 1000:F1} us")));
                    runs.Add(("tinyflash", engine.DefaultPlanFor(shape, options, dtype)));
                    runs.Add(("tinyflash-tuned", ExecutionPlan.Parse(result.Plan, d)));
                }
                else
                    runs.Add(("tinyflash", engine.PlanFor(shape, options, dtype)));
                using var workload = AttentionWorkload.Create(engine, shape, options, dtype);
                foreach (var (impl, plan) in runs)
                {
                    string described = plan.Describe() + (explicitLengths ? ", cache lengths" : "");
                    var timing = Timing.Measure(() => workload.Run(plan), () => engine.Accelerator.Synchronize(), minSamples: 20, minSeconds: 0.5);
                    var check = SampledCheck.Run(workload, workload.DownloadOutput(), rows: 8);
                    double bytes = 2.0 * batch * shape.KeyValueHeads * sk * d * elementSize;
                    double tbps = bytes / (timing.MedianMs * 1e-3) / 1e12;
                    double tflops = AttentionFlops.Count(shape, options) / (timing.MedianMs * 1e-3) / 1e12;
                    bool passed = check.Error <= check.Bound;
                    failures += passed ? 0 : 1;
                    new RunRecord(impl, engine.DeviceName, RunRecord.DtypeName(dtype), d, true, batch, shape.QueryHeads,
                        shape.KeyValueHeads, shape.QueryLength, sk, -1, -1, shape.Layout.ToString().ToLowerInvariant(), timing.MedianMs, tflops, check.Error,
                        DateTime.UtcNow.ToString("yyyy-MM-dd"), described, tbps).AppendTo(parse.GetValue(output)!);
                    Console.WriteLine($"{impl,-16}B={batch,-3} Hq={shape.QueryHeads} Hkv={shape.KeyValueHeads} Sq={shape.QueryLength} Sk={sk,-7} {described,-45} " +
                                      $"{timing.MedianMs * 1000,9:F1} us {tbps,6:F2} TB/s  err {check.Error:E2} {(passed ? "" : "FAIL")}");
                }
            }
            return failures == 0 ? 0 : 1;
        });
        return command;
    }
}
