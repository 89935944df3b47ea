using System.CommandLine;
using TinyFlash.Bench.Measurement;
using TinyFlash.Reference;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>training</c>: issue 7's grid. For each head dim, sequence length and mask, with FlashAttention's benchmark
/// sizes (16k tokens a batch, 2048 features of heads), times the forward, the backward alone (TFLOP/s counted as
/// 2.5× the forward's FLOPs, FlashAttention's convention) and a training step with dropout (forward + backward,
/// 3.5×; and each of its passes alone), after checking the gradients of one small call of the same kind against the
/// double reference. Baselines: <c>baselines/torch_sdpa_backward.py</c> on the same grid.
/// </summary>
internal static class TrainingCommand
{
    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { DefaultValueFactory = _ => BackendKind.Auto, Description = "Accelerator." };
        var type = new Option<ElementType>("--dtype") { DefaultValueFactory = _ => ElementType.Float16, Description = "Storage type." };
        var headDims = new Option<int[]>("--head-dims") { DefaultValueFactory = _ => [64, 128], AllowMultipleArgumentsPerToken = true, Description = "Head dims." };
        var lengths = new Option<int[]>("--seqs") { DefaultValueFactory = _ => [1024, 2048, 4096, 8192, 16384], AllowMultipleArgumentsPerToken = true, Description = "Sequence lengths." };
        var tokens = new Option<int>("--tokens") { DefaultValueFactory = _ => 16384, Description = "Batch × sequence length." };
        var dropout = new Option<float>("--dropout") { DefaultValueFactory = _ => 0.1f, Description = "Dropout of the training step." };
        var deterministic = new Option<bool>("--deterministic") { Description = "Time the deterministic dq pass instead of atomics." };
        var mmaBackward = new Option<bool>("--mma-backward") { Description = "Run the backward's tensor-core passes on mma.sync even where warpgroup products could run them (to time the two side by side)." };
        var once = new Option<bool>("--once")
        {
            Description = "Run each shape's forward and backward once without dropout, then once with it, without the check or timing (for a profiler: Nsight Compute times each kernel); full masks only.",
        };
        var output = new Option<string>("--out", "-o") { Required = true, Description = "JSON-lines file to append the records to." };
        var command = new Command("training", "Time the attention backward and a training step (forward + backward with dropout).")
            { backend, type, headDims, lengths, tokens, dropout, deterministic, mmaBackward, once, output };
        command.SetAction(parse =>
        {
            using var engine = FlashEngine.Create(parse.GetValue(backend));
            engine.Backward.WarpGroupPasses = !parse.GetValue(mmaBackward);
            var dtype = parse.GetValue(type);
            Console.WriteLine($"training on {engine.Backend} {engine.DeviceName}, {dtype}");
            int failures = 0;
            foreach (int d in parse.GetValue(headDims)!)
                foreach (int n in parse.GetValue(lengths)!)
                    foreach (bool causal in parse.GetValue(once) ? new[] { false } : new[] { false, true })
                    {
                        var shape = new AttentionShape(Math.Max(1, parse.GetValue(tokens) / n), 2048 / d, 2048 / d, n, n, d, AttentionLayout.Bhsd);
                        if (parse.GetValue(once))
                            RunOnce(engine, shape, dtype, parse.GetValue(dropout));
                        else
                            failures += Measure(engine, shape, dtype, causal, parse.GetValue(dropout), parse.GetValue(deterministic), parse.GetValue(output)!);
                    }
            return failures == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>
    /// One forward and one backward of <paramref name="shape"/>, each waited for, without dropout and then with
    /// <paramref name="p"/>: the launches a profiler sees, in order (for each: the forward, then the backward's D, dq pass, key-block pass).
    /// </summary>
    private static void RunOnce(FlashEngine engine, AttentionShape shape, ElementType type, float p)
    {
        foreach (var options in new[] { AttentionOptions.Default, AttentionOptions.Default with { DropoutProbability = p, DropoutSeed = 1 } })
        {
            using var workload = AttentionWorkload.Create(engine, shape, options, type);
            workload.Run();
            engine.Accelerator.Synchronize();
            workload.RunBackward();
            engine.Accelerator.Synchronize();
            Console.WriteLine($"ran once: d{shape.HeadDim} N{shape.QueryLength} dropout {options.DropoutProbability}, " +
                engine.Backward.Describe(Attention.AttentionValidator.Validate(shape, options), type, false));
        }
    }

    private static int Measure(FlashEngine engine, AttentionShape shape, ElementType type, bool causal, float p, bool deterministic, string path)
    {
        var plain = new AttentionOptions { Causal = causal, DeterministicBackward = deterministic };
        var dropped = plain with { DropoutProbability = p, DropoutSeed = 1 };
        // The gradients of a small call with the same head dim, mask, dropout and mode: a wrong kernel is not timed.
        var check = AttentionVerifier.RunBackward(engine, new VerificationCase("check", shape with { Batch = 1, QueryHeads = 2, KeyValueHeads = 2, QueryLength = 200, KeyLength = 200 }, dropped, type));
        using var workload = AttentionWorkload.Create(engine, shape, plain, type);
        using var training = AttentionWorkload.Create(engine, shape, dropped, type);
        var sync = engine.Accelerator.Synchronize;
        var forward = Timing.Measure(() => workload.Run(), sync);
        var backward = Timing.Measure(workload.RunBackward, sync);
        var step = Timing.Measure(() =>
        {
            training.Run();
            training.RunBackward();
        }, sync);
        // Where the step's time goes: each pass with dropout alone (the backward after the forward that wrote its log-sum-exp).
        var forwardDropped = Timing.Measure(() => training.Run(), sync);
        var backwardDropped = Timing.Measure(training.RunBackward, sync);
        double forwardFlops = AttentionFlops.Count(shape, plain);
        string date = DateTime.UtcNow.ToString("yyyy-MM-dd");
        void Record(string variant, double ms, double flops)
        {
            double tflops = flops / (ms * 1e-3) / 1e12;
            new RunRecord("tinyflash", engine.DeviceName, RunRecord.DtypeName(type), shape.HeadDim, causal, shape.Batch, shape.QueryHeads,
                shape.KeyValueHeads, shape.QueryLength, shape.KeyLength, -1, -1, "bhsd", ms, tflops, check.Error, date,
                engine.Backward.Describe(Attention.AttentionValidator.Validate(shape, variant.Contains("dropout", StringComparison.Ordinal) ? dropped : plain), type, deterministic),
                null, variant).AppendTo(path);
            Console.WriteLine($"{variant,-22} d{shape.HeadDim} N{shape.QueryLength,-6} {(causal ? "causal" : "full  ")} {ms,9:F3} ms {tflops,7:F1} TFLOP/s" +
                $"  check {(check.Passed ? "pass" : "FAIL")} {check.Error:E2}");
        }
        Record("forward", forward.MedianMs, forwardFlops);
        Record("backward", backward.MedianMs, 2.5 * forwardFlops);
        Record($"train-step-dropout{p}", step.MedianMs, 3.5 * forwardFlops);
        Record($"forward-dropout{p}", forwardDropped.MedianMs, forwardFlops);
        Record($"backward-dropout{p}", backwardDropped.MedianMs, 2.5 * forwardFlops);
        return check.Passed ? 0 : 1;
    }
}
