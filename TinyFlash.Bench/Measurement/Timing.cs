using System.Diagnostics;

namespace TinyFlash.Bench.Measurement;

/// <summary>Median wall-clock time of a device operation, synchronised after each timed batch of calls.</summary>
internal static class Timing
{
    /// <summary>
    /// Runs <paramref name="operation"/> once to warm up (JIT, module load), then takes samples of one or more calls
    /// each (enough that a sample lasts about a millisecond) until <paramref name="minSamples"/> samples and
    /// <paramref name="minSeconds"/> have passed or <paramref name="maxSamples"/> were taken.
    /// </summary>
    /// <returns>Median and minimum milliseconds per call, and the number of samples.</returns>
    public static (double MedianMs, double MinMs, int Samples) Measure(Action operation, Action synchronize,
        int minSamples = 5, int maxSamples = 50, double minSeconds = 1.0)
    {
        operation();
        synchronize();
        var probe = Stopwatch.StartNew();
        operation();
        synchronize();
        double single = probe.Elapsed.TotalMilliseconds;
        int callsPerSample = Math.Clamp((int)(1.0 / Math.Max(single, 1e-3)), 1, 100);

        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < maxSamples && (samples.Count < minSamples || total.Elapsed.TotalSeconds < minSeconds))
        {
            var watch = Stopwatch.StartNew();
            for (int i = 0; i < callsPerSample; i++)
                operation();
            synchronize();
            samples.Add(watch.Elapsed.TotalMilliseconds / callsPerSample);
        }
        samples.Sort();
        return (samples[samples.Count / 2], samples[0], samples.Count);
    }
}
