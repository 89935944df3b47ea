using System.CommandLine;
using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Bench.Measurement;
using TinyFlash.Reference;
using Half = System.Half;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>postprocess</c>: the memory-bound kernels around attention at the sizes of issue 6, with bandwidth: the fused
/// LayerNorm + dropout + residual forward (x and residual read, y written) and backward (dy, x and residual read, dx and
/// dresidual written), and rotary + QKV split (the projection read, q, k and v written). Each output is checked against
/// the double reference on its first rows. Baselines: <c>baselines/torch_norm.py</c> on the same sizes.
/// </summary>
internal static class PostprocessCommand
{
    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { DefaultValueFactory = _ => BackendKind.Auto, Description = "Accelerator." };
        var types = new Option<ElementType[]>("--dtypes") { DefaultValueFactory = _ => [ElementType.Float16, ElementType.Float32], AllowMultipleArgumentsPerToken = true, Description = "Storage types." };
        var rows = new Option<int>("--rows") { DefaultValueFactory = _ => 16384, Description = "Rows of the norm." };
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 4096, Description = "Features a row." };
        var p = new Option<float>("--dropout") { DefaultValueFactory = _ => 0.1f, Description = "Dropout probability." };
        var tokens = new Option<int>("--tokens") { DefaultValueFactory = _ => 16384, Description = "Tokens of the rotary split (batch 1)." };
        var threadsPerRow = new Option<int[]>("--threads-per-row") { AllowMultipleArgumentsPerToken = true, Description = "Also time the norm with these threads a row (powers of two) instead of the planner's." };
        var backwardRegisters = new Option<int[]>("--backward-registers")
        {
            AllowMultipleArgumentsPerToken = true,
            Description = "Also time the norm with the backward's row pass held to these registers a thread (CUDA; 0: ptxas's choice) instead of the planner's limit.",
        };
        var kernels = new Option<PostprocessKernel[]>("--kernels")
        {
            DefaultValueFactory = _ => Enum.GetValues<PostprocessKernel>(), AllowMultipleArgumentsPerToken = true,
            Description = "Kernels to time (the backward runs the forward once, untimed, for its statistics). One kernel alone is what a profiler run wants.",
        };
        var warmUp = new Option<double>("--warm-up")
        {
            DefaultValueFactory = _ => 0.5, Description = "Seconds of the norm forward run before each storage type's measurements (clocks ramp up); 0 under a profiler that counts launches.",
        };
        var placements = new Option<int>("--placements")
        {
            DefaultValueFactory = _ => 1,
            Description = "Time the backward this many times in the process, each on fresh copies of its five streamed tensors (the earlier copies kept, so each lands elsewhere in memory): whether a process's speed depends on where its tensors are.",
        };
        var output = new Option<string>("--out", "-o") { Required = true, Description = "JSON-lines file to append the records to." };
        var command = new Command("postprocess", "Time the fused norm (forward, backward) and rotary + QKV split, with bandwidth.")
            { backend, types, rows, hidden, p, tokens, threadsPerRow, backwardRegisters, kernels, warmUp, placements, output };
        command.SetAction(parse =>
        {
            using var engine = FlashEngine.Create(parse.GetValue(backend));
            Console.WriteLine($"postprocess on {engine.Backend} {engine.DeviceName}");
            foreach (var type in parse.GetValue(types)!)
            {
                var run = type switch
                {
                    ElementType.Float32 => (Func<FlashEngine, ElementType, int, int, float, int, IReadOnlySet<PostprocessKernel>, double, int, string, int>)Measure<float>,
                    ElementType.Float16 => Measure<Half>,
                    _ => Measure<BFloat16>,
                };
                // the planner's choices first, then each forced group size, then each forced register limit
                var settings = new (int? Threads, int? Registers)[] { (null, null) }
                    .Concat((parse.GetValue(threadsPerRow) ?? []).Select(t => ((int?)t, (int?)null)))
                    .Concat((parse.GetValue(backwardRegisters) ?? []).Select(r => ((int?)null, (int?)r)));
                foreach (var (threads, registers) in settings)
                {
                    (engine.Norm.ThreadsPerRow, engine.Norm.BackwardRegisters) = (threads, registers);
                    bool planned = threads is null && registers is null;
                    if (run(engine, type, parse.GetValue(rows), parse.GetValue(hidden), parse.GetValue(p), parse.GetValue(tokens), parse.GetValue(kernels)!.ToHashSet(), planned ? parse.GetValue(warmUp) : 0,
                            Math.Max(1, parse.GetValue(placements)), parse.GetValue(output)!) != 0)
                        return 1;
                }
            }
            return 0;
        });
        return command;
    }

    private static int Measure<T>(FlashEngine engine, ElementType type, int rows, int hidden, float p, int tokens, IReadOnlySet<PostprocessKernel> kernels,
        double warmUp, int placements, string path) where T : unmanaged
    {
        var accelerator = engine.Accelerator;
        var round = NaiveAttention.RoundingOf(type);
        T[] Narrow(float[] values) => type switch
        {
            ElementType.Float32 => (T[])(object)values,
            ElementType.Float16 => (T[])(object)Array.ConvertAll(values, x => (Half)x),
            _ => (T[])(object)Array.ConvertAll(values, x => (BFloat16)x),
        };
        float[] Widen(T[] values) => type switch
        {
            ElementType.Float32 => (float[])(object)values,
            ElementType.Float16 => Array.ConvertAll((Half[])(object)values, x => (float)x),
            _ => Array.ConvertAll((BFloat16[])(object)values, x => (float)x),
        };
        int size = type == ElementType.Float32 ? 4 : 2;
        float[] x = RandomTensors.Normal((long)rows * hidden, 1, round), residual = RandomTensors.Normal((long)rows * hidden, 2, round);
        float[] bias = RandomTensors.Normal(hidden, 3, round), gamma = RandomTensors.Normal(hidden, 4, v => round(1 + v / 4)), beta = RandomTensors.Normal(hidden, 5, round);
        float[] dy = RandomTensors.Normal((long)rows * hidden, 6, round);
        using var xs = accelerator.Allocate1D(Narrow(x));
        using var residuals = accelerator.Allocate1D(Narrow(residual));
        using var biases = accelerator.Allocate1D(Narrow(bias));
        using var gammas = accelerator.Allocate1D(Narrow(gamma));
        using var betas = accelerator.Allocate1D(Narrow(beta));
        using var outputs = accelerator.Allocate1D<T>(x.Length);
        using var dys = accelerator.Allocate1D(Narrow(dy));
        using var dxs = accelerator.Allocate1D<T>(x.Length);
        using var dresiduals = accelerator.Allocate1D<T>(x.Length);
        using var dgammas = accelerator.Allocate1D<T>(hidden);
        using var dbetas = accelerator.Allocate1D<T>(hidden);
        using var dbiases = accelerator.Allocate1D<T>(hidden);
        using var means = accelerator.Allocate1D<float>(rows);
        using var rstds = accelerator.Allocate1D<float>(rows);
        var options = new NormOptions { DropoutProbability = p, Seed = 1, Offset = 0 };
        int failures = 0;

        // each kernel timed twice: wall clock over batches of calls (Timing.Measure, every record before 2026-12-07's
        // session 11), and on CUDA by events around each call, as the PyTorch baselines time theirs (clock "cuda-events")
        (double WallMs, double? EventMs) Time(Action operation) =>
            (Timing.Measure(operation, accelerator.Synchronize).MedianMs, CudaEventTiming.MedianMs(accelerator, operation));

        void Record(string variant, (double WallMs, double? EventMs) time, double bytes, double error)
        {
            if (engine.Norm.ThreadsPerRow is int forced && variant.StartsWith("norm", StringComparison.Ordinal))
                variant += $"-threads{forced}";
            if (engine.Norm.BackwardRegisters is int registers && variant.StartsWith("norm-backward", StringComparison.Ordinal))
                variant += $"-registers{registers}";
            var clocks = new List<(double Ms, string? Clock)> { (time.WallMs, null) };
            if (time.EventMs is double eventMs)
                clocks.Add((eventMs, "cuda-events"));
            foreach (var (ms, clock) in clocks)
            {
                double tbps = bytes / (ms * 1e-3) / 1e12;
                new RunRecord("tinyflash", engine.DeviceName, RunRecord.DtypeName(type), hidden, false, rows, 1, 1, rows, hidden, -1, -1, "rows",
                    ms, 0, error, DateTime.UtcNow.ToString("yyyy-MM-dd"), null, tbps, variant, clock).AppendTo(path);
                Console.WriteLine($"{variant,-28} {RunRecord.DtypeName(type),-8} {rows}x{hidden} {ms * 1000,9:F1} us {tbps,6:F2} TB/s  err {error:E2}  {clock ?? "wall"}");
            }
        }

        void Forward() => engine.LayerNormDropoutResidual<T>(xs.View, residuals.View, biases.View, gammas.View, betas.View,
            outputs.View, hidden, options, mean: means.View, rstd: rstds.View);
        int check = Math.Min(rows, 4);
        Timing.WarmUp(Forward, accelerator.Synchronize, warmUp);
        if (kernels.Contains(PostprocessKernel.Forward))
        {
            var forward = Time(Forward);
            var reference = NormReference.Compute(x.AsSpan(0, check * hidden), residual.AsSpan(0, check * hidden), bias, gamma, beta, hidden, options);
            float[] y = Widen(outputs.View.SubView(0, check * hidden).GetAsArray1D());
            double forwardError = y.Select((v, i) => Math.Abs(v - reference.Output[i]) / Math.Max(1, Math.Abs(reference.Output[i]))).Max();
            failures += forwardError < (size == 4 ? 1e-4 : 2e-2) ? 0 : 1;
            Record($"norm-forward-p{p}", forward, 3.0 * size * rows * hidden, forwardError);
        }
        else if (kernels.Contains(PostprocessKernel.Backward))
            Forward();

        if (kernels.Contains(PostprocessKernel.Backward))
        {
            var gradients = NormReference.Backward(dy.AsSpan(0, check * hidden), x.AsSpan(0, check * hidden), residual.AsSpan(0, check * hidden), bias, gamma, hidden, options);
            var copies = new List<MemoryBuffer1D<T, Stride1D.Dense>>();
            try
            {
                var (dyView, xView, residualView, dxView, dresidualView) = (dys.View, xs.View, residuals.View, dxs.View, dresiduals.View);
                for (int placement = 0; placement < placements; placement++)
                {
                    if (placement > 0)
                    {
                        ArrayView<T> Copy(ArrayView<T> source)
                        {
                            var copy = accelerator.Allocate1D<T>(source.Length);
                            copies.Add(copy);
                            copy.View.CopyFrom(source);
                            return copy.View;
                        }
                        (dyView, xView, residualView, dxView, dresidualView) = (Copy(dys.View), Copy(xs.View), Copy(residuals.View), Copy(dxs.View), Copy(dresiduals.View));
                    }
                    var backward = Time(() => engine.LayerNormDropoutResidualBackward<T>(dyView, xView, residualView, biases.View, gammas.View,
                        means.View, rstds.View, hidden, options, dxView, dresidualView, dbiases.View, dgammas.View, dbetas.View));
                    float[] dx = Widen(dxView.SubView(0, check * hidden).GetAsArray1D());
                    double backwardError = dx.Select((v, i) => Math.Abs(v - gradients.GradX[i]) / Math.Max(1, Math.Abs(gradients.GradX[i]))).Max();
                    failures += backwardError < (size == 4 ? 1e-4 : 2e-2) ? 0 : 1;
                    Record($"norm-backward-p{p}" + (placements > 1 ? $"-placement{placement}" : ""), backward, 5.0 * size * rows * hidden, backwardError);
                }
            }
            finally
            {
                foreach (var copy in copies)
                    copy.Dispose();
            }
        }
        if (engine.Norm.ThreadsPerRow is not null || engine.Norm.BackwardRegisters is not null || !kernels.Contains(PostprocessKernel.Rotary))
            return failures; // a sweep of the norm's plan: the rotary split was timed with the planner's run

        var shape = new AttentionShape(1, 32, 8, tokens, tokens, 128);
        float[] qkv = RandomTensors.Normal((long)tokens * 48 * 128, 7, round);
        using var qkvs = accelerator.Allocate1D(Narrow(qkv));
        using var q = accelerator.Allocate1D<T>(shape.QueryElements);
        using var k = accelerator.Allocate1D<T>(shape.KeyValueElements);
        using var v = accelerator.Allocate1D<T>(shape.KeyValueElements);
        var rotary = Time(() => engine.RotaryQkvSplit<T>(qkvs.View, q.View, k.View, v.View, shape));
        var small = shape with { QueryLength = 2, KeyLength = 2 };
        var expected = RotaryReference.Compute(qkv.AsSpan(0, 2 * 48 * 128), small, RotaryOptions.Default);
        float[] firstQueries = Widen(q.View.SubView(0, 2 * 32 * 128).GetAsArray1D());
        double rotaryError = firstQueries.Select((value, i) => Math.Abs(value - expected.Q[i])).Max();
        failures += rotaryError < (size == 4 ? 1e-4 : 2e-2) ? 0 : 1;
        Record("rotary-qkv-split", rotary, 2.0 * size * qkv.Length, rotaryError);
        return failures;
    }
}

/// <summary>The kernels <c>postprocess</c> times.</summary>
internal enum PostprocessKernel
{
    /// <summary>The fused norm's forward.</summary>
    Forward,

    /// <summary>The fused norm's backward (row pass and feature-gradient pass).</summary>
    Backward,

    /// <summary>Rotary embeddings + QKV split.</summary>
    Rotary,
}
