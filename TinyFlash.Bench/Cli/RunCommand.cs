using System.CommandLine;
using TinyFlash.Bench.Measurement;
using TinyFlash.Reference;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>run</c>: one attention problem on the best (or chosen) accelerator, checked against the double reference on
/// sampled rows, timed (median after warm-up), with throughput and memory beside what a naive attention needs.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var problem = new ProblemOptions();
        var json = new Option<string?>("--json") { Description = "Append the measurement as one JSON line to this file." };
        var command = new Command("run", "Run attention on the best accelerator, check it against the reference and time it.");
        problem.AddTo(command);
        command.Options.Add(json);
        command.SetAction(parse =>
        {
            var shape = problem.Shape(parse);
            var options = problem.Options(parse);
            var type = parse.GetValue(problem.Type);
            using var engine = FlashEngine.Create(parse.GetValue(problem.Backend));
            var plan = problem.Plan(parse, shape.HeadDim) ?? engine.PlanFor(shape, options, type);
            using var workload = AttentionWorkload.Create(engine, shape, options, type);

            var timing = Timing.Measure(() => workload.Run(plan), () => engine.Accelerator.Synchronize());
            var check = SampledCheck.Run(workload, workload.DownloadOutput());
            double flops = AttentionFlops.Count(shape, options);
            double tflops = flops / (timing.MedianMs * 1e-3) / 1e12;
            int elementSize = type == ElementType.Float32 ? 4 : 2;
            double naiveScores = (double)shape.Batch * shape.QueryHeads * shape.QueryLength * shape.KeyLength * elementSize;
            bool passed = check.Error <= check.Bound;

            Console.WriteLine("TinyFlash attention");
            Console.WriteLine($"  device : {engine.Backend} {engine.DeviceName} (warp {engine.Facts.WarpSize}, {engine.Facts.Multiprocessors} multiprocessors)");
            Console.WriteLine($"  shape  : B={shape.Batch} Hq={shape.QueryHeads} Hkv={shape.KeyValueHeads} Sq={shape.QueryLength} Sk={shape.KeyLength} d={shape.HeadDim} {shape.Layout}" +
                              (options.Causal ? ", causal" : "") +
                              (options.WindowLeft >= 0 || options.WindowRight >= 0 ? $", window ({options.WindowLeft}, {options.WindowRight})" : "") +
                              (options.DropoutProbability > 0f ? $", dropout {options.DropoutProbability}" : ""));
            if (options.Bias is not null)
            {
                var (routed, pattern) = TinyFlash.Attention.MaskRouting.Route(options, shape);
                Console.WriteLine($"  mask   : {pattern?.Describe() ?? "a bias (not analyzed: per batch element or head, or beside other masks)"}");
                Console.WriteLine($"           runs as {(routed.Bias is not null ? "the general masked kernel (the mask is read per score)"
                    : routed.QuerySequenceOffsets is not null ? $"packed sequences{(routed.Causal ? ", causal" : "")} (the mask is not read)"
                    : routed.WindowLeft >= 0 || routed.WindowRight >= 0 ? $"a sliding window ({routed.WindowLeft}, {routed.WindowRight}{(routed.Causal ? ", causal" : "")}; the mask is not read)"
                    : routed.Causal ? "the causal kernel (the mask is not read)" : "unmasked attention (the mask hides nothing)")}");
            }
            Console.WriteLine($"  dtype  : {RunRecord.DtypeName(type)} storage, fp32 accumulation and softmax statistics");
            Console.WriteLine($"  kernel : {plan.Describe()}: {plan.Tile.BlockM} query rows a group, {plan.Tile.Threads} threads, {plan.Tile.SharedBytes / 1024.0:F1} KiB shared memory");
            Console.WriteLine($"  check  : {check.Rows} sampled rows vs double reference: error {check.Error:E2} (bound {check.Bound:E2}" +
                              (type == ElementType.Float32 ? ", relative" : $"; naive {RunRecord.DtypeName(type)}: {check.NaiveError:E2}") +
                              $") {(passed ? "PASS" : "FAIL")}");
            Console.WriteLine($"  time   : median {timing.MedianMs:F3} ms (min {timing.MinMs:F3} ms, {timing.Samples} samples after warm-up)");
            string speed = tflops >= 1 ? $"{tflops:F2} TFLOP/s" : $"{tflops * 1e3:F3} GFLOP/s";
            Console.WriteLine($"  speed  : {speed} ({flops / 1e9:F2} GFLOP: 4·B·H·Sq·Sk·d{(options.Causal ? ", halved for causal" : "")})");
            Console.WriteLine($"  memory : {workload.DeviceBytes / 1048576.0:F1} MiB on the device (q, k, v, output, log-sum-exp); " +
                              $"a naive attention would also hold the {shape.Batch}x{shape.QueryHeads}x{shape.QueryLength}x{shape.KeyLength} score matrix: {naiveScores / 1048576.0:F1} MiB");

            if (parse.GetValue(json) is string path)
                new RunRecord("tinyflash", engine.DeviceName, RunRecord.DtypeName(type), shape.HeadDim, options.Causal,
                    shape.Batch, shape.QueryHeads, shape.KeyValueHeads, shape.QueryLength, shape.KeyLength,
                    options.WindowLeft, options.WindowRight, shape.Layout.ToString().ToLowerInvariant(),
                    timing.MedianMs, tflops, check.Error, DateTime.UtcNow.ToString("yyyy-MM-dd"),
                    plan.Describe()).AppendTo(path);
            return passed ? 0 : 1;
        });
        return command;
    }
}
