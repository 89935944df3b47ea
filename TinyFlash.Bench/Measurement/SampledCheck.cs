using TinyFlash.Reference;

namespace TinyFlash.Bench.Measurement;

/// <summary>
/// Checks an output against the double-precision reference on a sample of rows, so that shapes too large for a
/// full host reference are still checked (the first and last row of the first and last head always included).
/// </summary>
internal static class SampledCheck
{
    public static (double Error, double Bound, double NaiveError, int Rows) Run(AttentionWorkload workload, float[] output, int rows = 32)
    {
        var shape = workload.Shape;
        var options = workload.Options;
        float scale = ReferenceAttention.Validate(workload.Query, workload.Key, workload.Value, shape, options);
        var random = new Random(7);
        var picks = new HashSet<(int B, int H, int I)>
        {
            (0, 0, 0),
            (shape.Batch - 1, shape.QueryHeads - 1, shape.QueryLength - 1),
        };
        while (picks.Count < Math.Min(rows, (long)shape.Batch * shape.QueryHeads * shape.QueryLength))
            picks.Add((random.Next(shape.Batch), random.Next(shape.QueryHeads), random.Next(shape.QueryLength)));

        int d = shape.HeadDim;
        var actual = new float[picks.Count * d];
        var reference = new double[picks.Count * d];
        var naive = new float[picks.Count * d];
        var doubleScores = new double[shape.KeyLength];
        var floatScores = new float[shape.KeyLength];
        var round = NaiveAttention.RoundingOf(workload.Type);
        int row = 0;
        foreach (var (b, h, i) in picks)
        {
            int index = ReferenceAttention.QueryIndex(shape, b, h, i);
            output.AsSpan(index, d).CopyTo(actual.AsSpan(row * d, d));
            ReferenceAttention.Row(workload.Query, workload.Key, workload.Value, shape, options, scale, b, h, i,
                doubleScores, reference.AsSpan(row * d, d));
            if (workload.Type != ElementType.Float32)
                NaiveAttention.Row(workload.Query, workload.Key, workload.Value, shape, options, scale, round, false,
                    b, h, i, floatScores, naive.AsSpan(row * d, d));
            row++;
        }
        var (error, bound) = AccuracyRule.Measure(workload.Type, actual, reference, naive);
        double naiveError = workload.Type == ElementType.Float32 ? double.NaN : AccuracyRule.MaxAbsoluteError(naive, reference);
        return (error, bound, naiveError, picks.Count);
    }
}
