using System.CommandLine;
using TinyFlash.Bench.Measurement;
using TinyFlash.Reference;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>sparse</c>: the sparse and local attention scenarios of issue 5, each beside TinyFlash's own dense kernel on the
/// same shape (fp16, d = 128, B = 1, 16 heads by default): causal sliding windows against dense causal attention at
/// N = 32768; a random block-sparse mask (blocks of 128, 10% visited, all full) against dense attention at N = 16384;
/// a packed batch of 64 sequences of random lengths (65536 tokens) against dense attention on one sequence of the
/// mean length. TFLOP/s count the visible (query, key) pairs. With <c>--dump</c> the block mask and the sequence
/// offsets are written for <c>baselines/torch_flex.py</c>, which runs the same masks through FlexAttention.
/// </summary>
internal static class SparseCommand
{
    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { DefaultValueFactory = _ => BackendKind.Auto, Description = "Accelerator." };
        var type = new Option<ElementType>("--dtype") { DefaultValueFactory = _ => ElementType.Float16, Description = "Storage type." };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 16, Description = "Heads." };
        var headDim = new Option<int>("--head-dim", "-d") { DefaultValueFactory = _ => 128, Description = "Head dimension." };
        var windowLength = new Option<int>("--window-seq") { DefaultValueFactory = _ => 32768, Description = "Sequence length of the sliding-window runs." };
        var windows = new Option<int[]>("--windows") { DefaultValueFactory = _ => [256, 1024, 4096], AllowMultipleArgumentsPerToken = true, Description = "Causal windows (keys a query sees, itself included)." };
        var sparseLength = new Option<int>("--sparse-seq") { DefaultValueFactory = _ => 16384, Description = "Sequence length of the block-sparse run." };
        var density = new Option<double>("--density") { DefaultValueFactory = _ => 0.1, Description = "Fraction of 128x128 blocks the block-sparse mask visits." };
        var sequences = new Option<int>("--sequences") { DefaultValueFactory = _ => 64, Description = "Sequences in the packed batch." };
        var tokens = new Option<int>("--tokens") { DefaultValueFactory = _ => 65536, Description = "Tokens in the packed batch." };
        var dump = new Option<string?>("--dump") { Description = "Folder for the block mask and the sequence offsets (for baselines/torch_flex.py)." };
        var output = new Option<string>("--out", "-o") { Required = true, Description = "JSON-lines file to append the records to." };
        var command = new Command("sparse", "Time sliding windows, a block-sparse mask and packed sequences, each beside the dense kernel on the same shape.")
            { backend, type, heads, headDim, windowLength, windows, sparseLength, density, sequences, tokens, dump, output };
        command.SetAction(parse =>
        {
            using var engine = FlashEngine.Create(parse.GetValue(backend));
            Console.WriteLine($"sparse on {engine.Backend} {engine.DeviceName}");
            var dtype = parse.GetValue(type);
            int h = parse.GetValue(heads), d = parse.GetValue(headDim);
            string path = parse.GetValue(output)!;
            int failures = 0;
            void Time(string variant, AttentionShape shape, AttentionOptions options, double pairs)
            {
                using var workload = AttentionWorkload.Create(engine, shape, options, dtype);
                var timing = Timing.Measure(() => workload.Run(), () => engine.Accelerator.Synchronize());
                var check = SampledCheck.Run(workload, workload.DownloadOutput(), rows: 16);
                double tflops = 4.0 * shape.QueryHeads * shape.HeadDim * pairs / (timing.MedianMs * 1e-3) / 1e12;
                bool passed = check.Error <= check.Bound;
                failures += passed ? 0 : 1;
                new RunRecord("tinyflash", engine.DeviceName, RunRecord.DtypeName(dtype), d, options.Causal, shape.Batch, shape.QueryHeads,
                    shape.KeyValueHeads, shape.QueryLength, shape.KeyLength, options.WindowLeft, options.WindowRight, "bshd", timing.MedianMs,
                    tflops, check.Error, DateTime.UtcNow.ToString("yyyy-MM-dd"), engine.PlanFor(shape, options, dtype).Describe(), Variant: variant)
                    .AppendTo(path);
                Console.WriteLine($"{variant,-22} B={shape.Batch} H={h} Sq={shape.QueryLength,-6} Sk={shape.KeyLength,-6} {timing.MedianMs,9:F3} ms {tflops,7:F1} TFLOP/s  err {check.Error:E2} {(passed ? "" : "FAIL")}");
            }

            int n = parse.GetValue(windowLength);
            var windowShape = new AttentionShape(1, h, h, n, n, d);
            Time("dense-causal", windowShape, new AttentionOptions { Causal = true }, (double)n * (n + 1) / 2);
            foreach (int w in parse.GetValue(windows)!)
                Time($"window-{w}", windowShape, new AttentionOptions { Causal = true, WindowLeft = w - 1 },
                    (double)n * w - (double)w * (w - 1) / 2);

            int s = parse.GetValue(sparseLength), blocks = (s + 127) / 128;
            var random = new Random(42);
            var states = new bool[blocks * blocks];
            var counts = new int[blocks];
            var indices = new int[blocks * blocks];
            for (int qb = 0; qb < blocks; qb++)
                for (int kb = 0; kb < blocks; kb++)
                    if (random.NextDouble() < parse.GetValue(density))
                    {
                        states[qb * blocks + kb] = true;
                        indices[qb * blocks + counts[qb]++] = kb;
                    }
            var blockMask = BlockSparseMask.FromBlocks(s, s, 128, 128, 1, 1, counts, indices, new int[blocks], new int[blocks * blocks]);
            var sparseShape = new AttentionShape(1, h, h, s, s, d);
            Time("dense", sparseShape, AttentionOptions.Default, (double)s * s);
            Time($"block-sparse-{parse.GetValue(density):0.##}", sparseShape, new AttentionOptions { BlockMask = blockMask },
                counts.Sum() * 128.0 * 128.0);

            int count = parse.GetValue(sequences), total = parse.GetValue(tokens);
            int[] offsets = RandomOffsets(count, total, new Random(7));
            int mean = total / count;
            Time("dense-mean-length", new AttentionShape(1, h, h, mean, mean, d), AttentionOptions.Default, (double)mean * mean);
            Time($"packed-{count}", new AttentionShape(1, h, h, total, total, d),
                new AttentionOptions { QuerySequenceOffsets = offsets, KeySequenceOffsets = offsets },
                Enumerable.Range(0, count).Sum(i => (double)(offsets[i + 1] - offsets[i]) * (offsets[i + 1] - offsets[i])));

            if (parse.GetValue(dump) is string folder)
            {
                Directory.CreateDirectory(folder);
                File.WriteAllBytes(Path.Combine(folder, "blocks.u8"), Array.ConvertAll(states, v => (byte)(v ? 1 : 0)));
                File.WriteAllText(Path.Combine(folder, "offsets.txt"), string.Join(" ", offsets));
            }
            return failures == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>Cumulative offsets of <paramref name="count"/> sequences of random lengths (1 and up) summing to <paramref name="total"/>.</summary>
    private static int[] RandomOffsets(int count, int total, Random random)
    {
        var weights = Enumerable.Range(0, count).Select(_ => 0.1 + random.NextDouble()).ToArray();
        double sum = weights.Sum();
        var lengths = weights.Select(w => Math.Max(1, (int)(w / sum * total))).ToArray();
        lengths[^1] += total - lengths.Sum();
        var offsets = new int[count + 1];
        for (int i = 0; i < count; i++)
            offsets[i + 1] = offsets[i] + lengths[i];
        return offsets;
    }
}
