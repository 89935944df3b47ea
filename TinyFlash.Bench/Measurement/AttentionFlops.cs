namespace TinyFlash.Bench.Measurement;

/// <summary>
/// The FLOP count benchmarks divide by: 4·B·H·Sq·Sk·d (two matrix products), halved for a causal mask over equal
/// lengths as FlashAttention and PyTorch count it; a sliding window, or a causal mask over unequal lengths (decode:
/// one query sees the whole cache), counts the query-key pairs it actually leaves visible.
/// </summary>
internal static class AttentionFlops
{
    public static double Count(AttentionShape shape, AttentionOptions options)
    {
        double perPair = 4.0 * shape.Batch * shape.QueryHeads * shape.HeadDim;
        bool windowed = options.WindowLeft >= 0 || options.WindowRight >= 0;
        if (!windowed && (!options.Causal || shape.QueryLength == shape.KeyLength))
            return perPair * shape.QueryLength * shape.KeyLength * (options.Causal ? 0.5 : 1.0);

        long offset = (long)shape.KeyLength - shape.QueryLength;
        double pairs = 0;
        for (long i = 0; i < shape.QueryLength; i++)
        {
            long low = options.WindowLeft >= 0 ? Math.Max(0, i + offset - options.WindowLeft) : 0;
            long high = options.WindowRight >= 0 ? i + offset + options.WindowRight : shape.KeyLength - 1;
            if (options.Causal)
                high = Math.Min(high, i + offset);
            high = Math.Min(high, shape.KeyLength - 1);
            pairs += Math.Max(0, high - low + 1);
        }
        return perPair * pairs;
    }
}
