using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Tiling;
using Half = System.Half;

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
    /// both, zero), fully masked rows, GQA and MQA, both layouts and batch &gt; 1.
    /// </summary>
    public static IReadOnlyList<VerificationCase> StandardMatrix()
    {
        var cases = new List<VerificationCase>();
        void Add(string name, AttentionShape shape, AttentionOptions? options = null, ElementType type = ElementType.Float32) =>
            cases.Add(new VerificationCase(name, shape, options ?? AttentionOptions.Default, type));
        static AttentionShape Shape(int sq, int sk, int d = 64, int b = 1, int hq = 2, int hkv = 2,
            AttentionLayout layout = AttentionLayout.Bshd) => new(b, hq, hkv, sq, sk, d, layout);

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
        return cases;
    }

    /// <summary>Runs <paramref name="verificationCase"/> on <paramref name="engine"/> with random inputs drawn from <paramref name="seed"/>.</summary>
    public static VerificationResult Run(FlashEngine engine, VerificationCase verificationCase, int seed = 1) =>
        Run(engine, verificationCase, plan: null, seed);

    /// <summary>Runs a case with a forced tile plan (or the planner's, for <c>null</c>).</summary>
    internal static VerificationResult Run(FlashEngine engine, VerificationCase verificationCase, TilePlan? plan, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(verificationCase);
        var (shape, options, type) = (verificationCase.Shape, verificationCase.Options, verificationCase.Type);
        var random = new Random(seed);
        var round = NaiveAttention.RoundingOf(type);
        float[] q = RandomTensor(random, shape.QueryElements, round);
        float[] k = RandomTensor(random, shape.KeyValueElements, round);
        float[] v = RandomTensor(random, shape.KeyValueElements, round);

        var (output, logSumExp) = type switch
        {
            ElementType.Float32 => RunOnDevice(engine, q, k, v, shape, options, plan, x => x, x => x),
            ElementType.Float16 => RunOnDevice(engine, q, k, v, shape, options, plan, x => (Half)x, x => (float)x),
            _ => RunOnDevice(engine, q, k, v, shape, options, plan, x => (BFloat16)x, x => (float)x),
        };
        double[] reference = ReferenceAttention.Compute(q, k, v, shape, options);
        double[] referenceLse = ReferenceAttention.LogSumExp(q, k, v, shape, options);

        float[] naive = type == ElementType.Float32 ? [] : NaiveAttention.Compute(q, k, v, shape, options, type);
        var (error, bound) = AccuracyRule.Measure(type, output, reference, naive);
        double lseError = LogSumExpError(logSumExp, referenceLse);
        bool passed = output.All(float.IsFinite) && error <= bound && lseError <= VerificationResult.LogSumExpTolerance;
        return new VerificationResult(verificationCase, error, bound, lseError, passed);
    }

    /// <summary>Normal(0, 1) values rounded to the storage type.</summary>
    internal static float[] RandomTensor(Random random, long count, Func<float, float> round)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = round((float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)));
        }
        return values;
    }

    private static (float[] Output, float[] LogSumExp) RunOnDevice<T>(FlashEngine engine, float[] q, float[] k, float[] v,
        AttentionShape shape, AttentionOptions options, TilePlan? plan, Func<float, T> narrow, Func<T, float> widen) where T : unmanaged
    {
        var accelerator = engine.Accelerator;
        using var qBuffer = accelerator.Allocate1D(q.Select(narrow).ToArray());
        using var kBuffer = accelerator.Allocate1D(k.Select(narrow).ToArray());
        using var vBuffer = accelerator.Allocate1D(v.Select(narrow).ToArray());
        using var outBuffer = accelerator.Allocate1D<T>(shape.QueryElements);
        using var lseBuffer = accelerator.Allocate1D<float>(shape.LogSumExpElements);
        // Poison the outputs so that an element the kernel never writes shows up as NaN.
        outBuffer.View.CopyFromCPU(Enumerable.Repeat(narrow(float.NaN), (int)shape.QueryElements).ToArray());
        lseBuffer.View.CopyFromCPU(Enumerable.Repeat(float.NaN, (int)shape.LogSumExpElements).ToArray());
        if (plan is null)
            engine.Attention<T>(qBuffer.View, kBuffer.View, vBuffer.View, outBuffer.View, shape, options, lseBuffer.View);
        else
            engine.AttentionWithPlan<T>(qBuffer.View, kBuffer.View, vBuffer.View, outBuffer.View, shape, options, lseBuffer.View, plan);
        return (outBuffer.GetAsArray1D().Select(widen).ToArray(), lseBuffer.GetAsArray1D());
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
