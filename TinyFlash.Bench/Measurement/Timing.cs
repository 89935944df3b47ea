using System.Diagnostics;

namespace TinyFlash.Bench.Measurement;

/// <summary>Median wall-clock time of a device operation, synchronised after each timed batch of calls.</summary>
internal static class Timing
{
    /// <summary>
    /// Keeps the device busy with <paramref name="operation"/> for <paramref name="seconds"/>: its clocks ramp up from
    /// idle over a fraction of a second, and a short measurement taken first in a process read up to 20 % slow on the
    /// H200 (the same norm kernel: 270 µs first, 222 µs later in the same call, 2026-12-03).
    /// </summary>
    public static void WarmUp(Action operation, Action synchronize, double seconds)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed.TotalSeconds < seconds)
        {
            operation();
            synchronize();
        }
    }

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

    /// <summary>
    /// Times several operations under the same conditions: after a warm-up of each, samples of each in turn (a round
    /// takes one sample of every operation) until <paramref name="minRounds"/> rounds and <paramref name="minSeconds"/>
    /// have passed, so that a change of clocks or temperature during the measurement weighs on all of them alike
    /// (separate measurements of the same kernel one after another differed by up to 17% on the H200).
    /// </summary>
    /// <returns>Each operation's median and minimum milliseconds per call, in the order given.</returns>
    public static (double MedianMs, double MinMs)[] MeasureInterleaved(IReadOnlyList<Action> operations, Action synchronize,
        int minRounds = 10, int maxRounds = 100, double minSeconds = 2.0)
    {
        var callsPerSample = new int[operations.Count];
        for (int o = 0; o < operations.Count; o++)
        {
            operations[o]();
            synchronize();
            var probe = Stopwatch.StartNew();
            operations[o]();
            synchronize();
            callsPerSample[o] = Math.Clamp((int)(1.0 / Math.Max(probe.Elapsed.TotalMilliseconds, 1e-3)), 1, 100);
        }
        var samples = operations.Select(_ => new List<double>()).ToArray();
        var total = Stopwatch.StartNew();
        for (int round = 0; round < maxRounds && (round < minRounds || total.Elapsed.TotalSeconds < minSeconds); round++)
            for (int o = 0; o < operations.Count; o++)
            {
                var watch = Stopwatch.StartNew();
                for (int i = 0; i < callsPerSample[o]; i++)
                    operations[o]();
                synchronize();
                samples[o].Add(watch.Elapsed.TotalMilliseconds / callsPerSample[o]);
            }
        return samples.Select(list => { list.Sort(); return (list[list.Count / 2], list[0]); }).ToArray();
    }
}
