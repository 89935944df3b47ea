using TinyFlash.Reference;

namespace TinyFlash.Tests.Support;

/// <summary>Random inputs and a reference check shared by the behaviour tests.</summary>
internal static class Inputs
{
    /// <summary>Normal(0, 1) q, k and v for <paramref name="shape"/>.</summary>
    public static (float[] Q, float[] K, float[] V) For(AttentionShape shape, int seed = 5)
    {
        return (RandomTensors.Normal(shape.QueryElements, seed, x => x),
            RandomTensors.Normal(shape.KeyValueElements, seed + 1, x => x),
            RandomTensors.Normal(shape.KeyValueElements, seed + 2, x => x));
    }

    /// <summary>Asserts that the engine computes a small attention correctly (it still works after an error).</summary>
    public static void AssertEngineWorks(FlashEngine engine)
    {
        var shape = new AttentionShape(1, 2, 1, 9, 13, 32);
        var (q, k, v) = For(shape);
        float[] output = engine.Attention(q, k, v, shape, new AttentionOptions { Causal = true });
        double[] reference = ReferenceAttention.Compute(q, k, v, shape, new AttentionOptions { Causal = true });
        var (error, bound) = AccuracyRule.Measure(ElementType.Float32, output, reference, []);
        Assert.That(error, Is.LessThan(bound), "the engine no longer computes correctly");
    }
}
