using TinyFlash.Tiling;

namespace TinyFlash.Reference;

/// <summary>
/// Runs attention cases on an engine and compares them with <see cref="ReferenceAttention"/> under
/// FlashAttention's accuracy rule. The NUnit suite and the CLI's <c>verify</c> share <see cref="StandardMatrix"/>,
/// so a user checking their own hardware runs exactly what CI runs on the CPU.
/// </summary>
public static class AttentionVerifier
{
    /// <summary>
    /// The correctness matrix: every head dimension in every storage type, lengths that are not multiples of any
    /// tile (1, 7, 63, 65, 129, 200), queries fewer and more than keys, causal and window masks (left, right,
    /// both, zero), fully masked rows, GQA and MQA, both layouts and batch &gt; 1, decode against caches of
    /// different lengths (with the query heads packed as rows, and with key splits where the device's planner splits),
    /// packed sequences, softcap and ALiBi, boolean and block-sparse masks, and dropout.
    /// </summary>
    public static IReadOnlyList<VerificationCase> StandardMatrix()
    {
        var cases = new List<VerificationCase>();
        void Add(string name, AttentionShape shape, AttentionOptions? options = null, ElementType type = ElementType.Float32) =>
            cases.Add(new VerificationCase(name, shape, options ?? AttentionOptions.Default, type));

        var types = Enum.GetValues<ElementType>();
        int[] lengths = [1, 7, 63, 65, 129, 200];
        for (int t = 0; t < types.Length; t++)
        {
            foreach (int d in new[] { 32, 64, 80, 96, 128, 160, 192, 256 })
                Add($"head dim {d}", Shape(lengths[(d / 32 + t) % 4 + 2], 65, d, hq: 1, hkv: 1), type: types[t]);
            Add("causal, odd lengths", Shape(129, 129, 64), new AttentionOptions { Causal = true }, types[t]);
            Add("sliding window, GQA, Bhsd", Shape(65, 129, 96, hq: 4, hkv: 2, layout: AttentionLayout.Bhsd),
                new AttentionOptions { Causal = true, WindowLeft = 20 }, types[t]);
        }
        foreach (int sq in lengths)
            foreach (int sk in new[] { 1, 7, 65, 200 })
                Add("lengths", Shape(sq, sk, 32, hq: 1, hkv: 1), null, sq % 2 == 0 ? ElementType.Float16 : ElementType.Float32);
        Add("queries fewer than keys, causal", Shape(7, 129), new AttentionOptions { Causal = true });
        Add("queries more than keys, causal (fully masked rows)", Shape(129, 63), new AttentionOptions { Causal = true });
        Add("queries more than keys, causal, Bhsd", Shape(200, 7, 32, layout: AttentionLayout.Bhsd), new AttentionOptions { Causal = true }, ElementType.BFloat16);
        Add("window left only", Shape(65, 65), new AttentionOptions { WindowLeft = 16 });
        Add("window right only", Shape(65, 129), new AttentionOptions { WindowRight = 8 });
        Add("window both sides", Shape(129, 65, 128), new AttentionOptions { WindowLeft = 20, WindowRight = 5 }, ElementType.Float16);
        Add("window zero (diagonal only)", Shape(63, 63), new AttentionOptions { WindowLeft = 0, WindowRight = 0 });
        Add("window zero, more queries than keys (fully masked rows)", Shape(65, 7), new AttentionOptions { WindowLeft = 0, WindowRight = 0 });
        Add("causal with right window", Shape(65, 65), new AttentionOptions { Causal = true, WindowRight = 10, WindowLeft = 3 });
        Add("window wider than the sequence", Shape(63, 65), new AttentionOptions { WindowLeft = 1000, WindowRight = 1000 });
        Add("grouped-query attention", Shape(65, 63, 64, hq: 6, hkv: 2), null, ElementType.BFloat16);
        Add("multi-query attention", Shape(63, 65, 64, hq: 4, hkv: 1), new AttentionOptions { Causal = true });
        Add("batch > 1, Bshd", Shape(63, 65, 64, b: 3, hq: 2, hkv: 1));
        Add("batch > 1, Bhsd", Shape(65, 63, 128, b: 2, hq: 4, hkv: 2, layout: AttentionLayout.Bhsd), new AttentionOptions { Causal = true }, ElementType.Float16);
        Add("custom scale", Shape(65, 65), new AttentionOptions { Scale = 0.5f }, ElementType.BFloat16);
        Add("decode, GQA 4:1, caches of different lengths", Shape(1, 1000, 128, b: 2, hq: 8, hkv: 2),
            new AttentionOptions { Causal = true, CacheLengths = [1000, 333] }, ElementType.Float16);
        Add("decode, 5 tokens, caches of different lengths, Bhsd", Shape(5, 300, 64, b: 2, hq: 4, hkv: 2, layout: AttentionLayout.Bhsd),
            new AttentionOptions { Causal = true, CacheLengths = [300, 17] }, ElementType.BFloat16);
        Add("decode, 16 tokens, GQA 4:1, Bshd (packed rows through the workspace)", Shape(16, 700, 128, b: 2, hq: 8, hkv: 2),
            new AttentionOptions { Causal = true, CacheLengths = [700, 40] }, ElementType.Float16);
        Add("decode, 3 tokens, left window, GQA 8:1", Shape(3, 500, 64, hq: 8, hkv: 1),
            new AttentionOptions { Causal = true, WindowLeft = 100 }, ElementType.BFloat16);
        Add("an empty cache beside a full one", Shape(3, 50, 32, b: 2), new AttentionOptions { CacheLengths = [0, 50] });
        Add("packed sequences of 1, 0, 37 and 62 queries (varlen), GQA", Shape(100, 130, 64, hq: 4, hkv: 2),
            new AttentionOptions { Causal = true, QuerySequenceOffsets = [0, 1, 1, 38, 100], KeySequenceOffsets = [0, 5, 5, 40, 130] }, ElementType.Float16);
        Add("softcap and ALiBi, causal", Shape(65, 129, 64, hq: 4, hkv: 2),
            new AttentionOptions { Causal = true, Softcap = 5f, AlibiSlopes = [0.5f, 0.25f, 0.125f, 0.0625f] }, ElementType.Float16);
        Add("boolean mask per head (a bias of 0 and −∞)", Shape(63, 65, 128, hq: 2, hkv: 1),
            new AttentionOptions { Bias = AttentionBias.FromMask(RandomMask(2 * 63 * 65, seed: 3), heads: 2) }, ElementType.BFloat16);
        Add("block-sparse mask per head, blocks of 24, a quarter skipped", Shape(100, 150, 64, hq: 2, hkv: 1),
            new AttentionOptions { BlockMask = BlockSparseMask.FromPredicate((_, h, i, j) => (i / 24 + j / 24 + h) % 4 != 0 && (j + 2 * i + h) % 5 != 0, 100, 150, 24, heads: 2) },
            ElementType.Float16);
        Add("block-sparse mask of whole blocks of 16 (visible and skipped blocks in one tile)", Shape(100, 90, 64),
            new AttentionOptions { BlockMask = BlockSparseMask.FromPredicate((_, _, i, j) => (i / 16 + j / 16) % 4 != 1, 100, 90, 16) }, ElementType.BFloat16);
        Add("few queries, many keys (key splits on a GPU)", Shape(33, 1500, 64, hq: 2, hkv: 1), new AttentionOptions { WindowLeft = 900 }, ElementType.Float16);
        Add("dropout 0.1, causal", Shape(129, 200, 64), new AttentionOptions { Causal = true, DropoutProbability = 0.1f, DropoutSeed = 5, DropoutOffset = 7 },
            ElementType.Float16);
        Add("dropout 0.3 with softcap, GQA, Bhsd", Shape(65, 129, 128, hq: 4, hkv: 2, layout: AttentionLayout.Bhsd),
            new AttentionOptions { Softcap = 20f, DropoutProbability = 0.3f, DropoutSeed = 8 }, ElementType.BFloat16);
        return cases;
    }

    /// <summary>The shape of a matrix case: batch 1 and two heads unless said.</summary>
    private static AttentionShape Shape(int sq, int sk, int d = 64, int b = 1, int hq = 2, int hkv = 2,
        AttentionLayout layout = AttentionLayout.Bshd) => new(b, hq, hkv, sq, sk, d, layout);

    /// <summary>A reproducible mask with about a third of the keys visible.</summary>
    private static bool[] RandomMask(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => random.NextDouble() < 0.35)];
    }

    /// <summary>Runs <paramref name="verificationCase"/> on <paramref name="engine"/> with random inputs drawn from <paramref name="seed"/>.</summary>
    public static VerificationResult Run(FlashEngine engine, VerificationCase verificationCase, int seed = 1) =>
        Run(engine, verificationCase, plan: null, seed);

    /// <summary>Runs a case with a forced tile plan (or the planner's, for <c>null</c>).</summary>
    internal static VerificationResult Run(FlashEngine engine, VerificationCase verificationCase, ExecutionPlan? plan, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(verificationCase);
        var (shape, options, type) = (verificationCase.Shape, verificationCase.Options, verificationCase.Type);
        using var workload = AttentionWorkload.Create(engine, shape, options, type, seed);
        workload.Run(plan);
        float[] output = workload.DownloadOutput();
        float[] logSumExp = workload.DownloadLogSumExp();
        float[] q = workload.Query, k = workload.Key, v = workload.Value;
        double[] reference = ReferenceAttention.Compute(q, k, v, shape, options);
        double[] referenceLse = ReferenceAttention.LogSumExp(q, k, v, shape, options);

        float[] naive = type == ElementType.Float32 ? [] : NaiveAttention.Compute(q, k, v, shape, options, type);
        var (error, bound) = AccuracyRule.Measure(type, output, reference, naive);
        double lseError = LogSumExpError(logSumExp, referenceLse);
        bool passed = output.All(float.IsFinite) && error <= bound && lseError <= VerificationResult.LogSumExpTolerance;
        return new VerificationResult(verificationCase, error, bound, lseError, passed);
    }

    /// <summary>
    /// The backward matrix: lengths that are not multiples of any tile, every head dim in some storage type, causal,
    /// windows, fully masked rows, GQA and MQA, both layouts, batch &gt; 1, dropout, packed sequences, cache lengths,
    /// softcap and ALiBi, a boolean mask and a block-sparse mask.
    /// </summary>
    public static IReadOnlyList<VerificationCase> BackwardMatrix()
    {
        var cases = new List<VerificationCase>();
        void Add(string name, AttentionShape shape, AttentionOptions? options = null, ElementType type = ElementType.Float32) =>
            cases.Add(new VerificationCase(name, shape, options ?? AttentionOptions.Default, type));
        var types = Enum.GetValues<ElementType>();
        int[] headDims = [32, 64, 80, 96, 128, 160, 192, 256];
        for (int i = 0; i < headDims.Length; i++)
            Add($"head dim {headDims[i]}", Shape(37 + 11 * i, 29 + 7 * i, headDims[i], hq: 1, hkv: 1), type: types[i % types.Length]);
        foreach (var type in types)
        {
            Add("causal, odd lengths", Shape(45, 45), new AttentionOptions { Causal = true }, type);
            Add("dropout 0.2, causal", Shape(33, 41, 32), new AttentionOptions { Causal = true, DropoutProbability = 0.2f, DropoutSeed = 7, DropoutOffset = 3 }, type);
        }
        Add("lengths 1 x 1", Shape(1, 1, 32, hq: 1, hkv: 1));
        Add("one query, many keys", Shape(1, 70, 32, hq: 1, hkv: 1));
        Add("many queries, one key", Shape(70, 1, 32, hq: 1, hkv: 1), type: ElementType.Float16);
        Add("queries more than keys, causal (fully masked rows)", Shape(50, 20, 32), new AttentionOptions { Causal = true });
        Add("window both sides", Shape(50, 40, 32), new AttentionOptions { WindowLeft = 9, WindowRight = 4 }, ElementType.BFloat16);
        Add("sliding window, GQA, Bhsd", Shape(41, 47, 64, hq: 4, hkv: 2, layout: AttentionLayout.Bhsd), new AttentionOptions { Causal = true, WindowLeft = 12 });
        Add("multi-query attention, batch 2", Shape(23, 31, 32, b: 2, hq: 3, hkv: 1), new AttentionOptions { Causal = true }, ElementType.Float16);
        Add("custom scale, Bhsd", Shape(30, 30, 32, layout: AttentionLayout.Bhsd), new AttentionOptions { Scale = 0.3f });
        Add("dropout 0.5, GQA, batch 2, Bhsd", Shape(21, 27, 32, b: 2, hq: 4, hkv: 2, layout: AttentionLayout.Bhsd),
            new AttentionOptions { DropoutProbability = 0.5f, DropoutSeed = 11, DropoutOffset = 1ul << 40 });
        Add("packed sequences of 5, 0, 22 and 13 queries (varlen), causal, dropout", Shape(40, 45, 32, hq: 2, hkv: 1),
            new AttentionOptions { Causal = true, QuerySequenceOffsets = [0, 5, 5, 27, 40], KeySequenceOffsets = [0, 7, 9, 31, 45], DropoutProbability = 0.1f, DropoutSeed = 3 },
            ElementType.Float16);
        Add("cache lengths 40 and 9 (keys past them get zero gradients)", Shape(6, 40, 32, b: 2), new AttentionOptions { Causal = true, CacheLengths = [40, 9] });
        Add("softcap and ALiBi, causal", Shape(35, 43, 32, hq: 2, hkv: 1),
            new AttentionOptions { Causal = true, Softcap = 3f, AlibiSlopes = [0.5f, 0.125f] });
        Add("boolean mask per head", Shape(30, 35, 32, hq: 2, hkv: 1),
            new AttentionOptions { Bias = AttentionBias.FromMask(RandomMask(2 * 30 * 35, seed: 5), heads: 2) }, ElementType.BFloat16);
        Add("block-sparse mask per head, blocks of 12", Shape(50, 45, 32, hq: 2, hkv: 1),
            new AttentionOptions { BlockMask = BlockSparseMask.FromPredicate((_, h, i, j) => (i / 12 + j / 12 + h) % 3 != 0 && (j + 2 * i + h) % 5 != 0, 50, 45, 12, heads: 2) });
        Add("GQA, causal, dropout, ALiBi, three key blocks", Shape(150, 170, 128, hq: 2, hkv: 1),
            new AttentionOptions { Causal = true, DropoutProbability = 0.1f, DropoutSeed = 4, AlibiSlopes = [0.25f, 0.5f] }, ElementType.BFloat16);
        Add("block-sparse mask of whole blocks of 16, two query tiles", Shape(100, 90, 64),
            new AttentionOptions { BlockMask = BlockSparseMask.FromPredicate((_, _, i, j) => (i / 16 + j / 16) % 4 != 1, 100, 90, 16) },
            ElementType.Float16);
        Add("deterministic dq, GQA, dropout", Shape(33, 39, 64, hq: 4, hkv: 2),
            new AttentionOptions { Causal = true, DeterministicBackward = true, DropoutProbability = 0.25f, DropoutSeed = 9 }, ElementType.Float16);
        return cases;
    }

    /// <summary>
    /// Runs the forward and backward of <paramref name="verificationCase"/> with random inputs and output gradient drawn
    /// from <paramref name="seed"/>, and compares dq, dk and dv with <see cref="ReferenceAttention.Backward"/> under the
    /// forward's accuracy rule, each tensor on its own (fp16/bf16: at most twice the error of
    /// <see cref="NaiveAttention.Backward"/>), errors relative to at least the call's largest gradient. The reported
    /// error and bound are those of the worst tensor.
    /// </summary>
    public static VerificationResult RunBackward(FlashEngine engine, VerificationCase verificationCase, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(verificationCase);
        var (shape, options, type) = (verificationCase.Shape, verificationCase.Options, verificationCase.Type);
        using var workload = AttentionWorkload.Create(engine, shape, options, type, seed);
        workload.Run();
        workload.RunBackward();
        var (gradQuery, gradKey, gradValue) = workload.DownloadGradients();
        var reference = ReferenceAttention.Backward(workload.Query, workload.Key, workload.Value, workload.GradOutput, shape, options);
        (float[] Query, float[] Key, float[] Value) naive = type == ElementType.Float32
            ? ([], [], [])
            : NaiveAttention.Backward(workload.Query, workload.Key, workload.Value, workload.GradOutput, shape, options, type);
        bool passed = true;
        double worstError = 0, worstBound = 0, worstRatio = -1;
        double scale = reference.GradQuery.Concat(reference.GradKey).Concat(reference.GradValue).Select(Math.Abs).DefaultIfEmpty(0).Max();
        foreach (var (actual, expected, baseline) in new[] { (gradQuery, reference.GradQuery, naive.Query),
                     (gradKey, reference.GradKey, naive.Key), (gradValue, reference.GradValue, naive.Value) })
        {
            var (error, bound) = AccuracyRule.Measure(type, actual, expected, baseline, scale);
            passed &= actual.All(float.IsFinite) && error <= bound;
            double ratio = double.IsNaN(error) ? double.PositiveInfinity : error / bound;
            if (ratio > worstRatio)
                (worstRatio, worstError, worstBound) = (ratio, error, bound);
        }
        return new VerificationResult(verificationCase, worstError, worstBound, 0, passed);
    }

    private static double LogSumExpError(float[] actual, double[] expected)
    {
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (double.IsNegativeInfinity(expected[i]) || float.IsNegativeInfinity(actual[i]))
            {
                if (actual[i] != expected[i])
                    return double.PositiveInfinity;
                continue;
            }
            double error = Math.Abs(actual[i] - expected[i]) / Math.Max(1, Math.Abs(expected[i]));
            max = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(max, error);
        }
        return max;
    }
}
