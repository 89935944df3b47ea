namespace TinyFlash.Reference;

/// <summary>Random test and benchmark tensors, generated in parallel chunks so that large ones are quick to make.</summary>
internal static class RandomTensors
{
    private const int Chunk = 1 << 16;

    /// <summary>
    /// Normal(0, 1) values rounded by <paramref name="round"/>, the same for a seed in every process (each chunk's
    /// generator is seeded by a fixed mix of seed and chunk; <see cref="HashCode"/> would differ from process to process).
    /// </summary>
    public static float[] Normal(long count, int seed, Func<float, float> round)
    {
        var values = new float[count];
        long chunks = (count + Chunk - 1) / Chunk;
        Parallel.For(0L, chunks, chunk =>
        {
            var random = new Random(ChunkSeed(seed, chunk));
            long end = Math.Min(count, (chunk + 1) * Chunk);
            for (long i = chunk * Chunk; i < end; i++)
            {
                double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
                values[i] = round((float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)));
            }
        });
        return values;
    }

    /// <summary>SplitMix64's finaliser of (seed, chunk), folded to a non-negative 31-bit seed.</summary>
    private static int ChunkSeed(int seed, long chunk)
    {
        ulong z = ((ulong)(uint)seed << 32 ^ (ulong)chunk) + 0x9E3779B97F4A7C15;
        z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9;
        z = (z ^ z >> 27) * 0x94D049BB133111EB;
        return (int)((z ^ z >> 31) & int.MaxValue);
    }
}
