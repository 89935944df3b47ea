namespace TinyFlash.Reference;

/// <summary>Random test and benchmark tensors, generated in parallel chunks so that large ones are quick to make.</summary>
internal static class RandomTensors
{
    private const int Chunk = 1 << 16;

    /// <summary>Normal(0, 1) values rounded by <paramref name="round"/>, reproducible for a seed.</summary>
    public static float[] Normal(long count, int seed, Func<float, float> round)
    {
        var values = new float[count];
        long chunks = (count + Chunk - 1) / Chunk;
        Parallel.For(0L, chunks, chunk =>
        {
            var random = new Random(HashCode.Combine(seed, chunk));
            long end = Math.Min(count, (chunk + 1) * Chunk);
            for (long i = chunk * Chunk; i < end; i++)
            {
                double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
                values[i] = round((float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)));
            }
        });
        return values;
    }
}
