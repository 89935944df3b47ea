namespace TinyFlash.Attention;

/// <summary>
/// Remembers, for the log-sum-exp tensors the engine's forward passes wrote lately, which dropout they ran with, so
/// that a backward given one of them with other dropout settings (a different seed, offset or probability: gradients
/// of a mask the forward never used) is refused instead of silently wrong. A device tensor is known by its address, a
/// host one by a hash of its contents. Bounded: the oldest entries are forgotten, and a log-sum-exp the engine did not
/// write (or has forgotten) cannot be checked.
/// </summary>
internal sealed class DropoutLedger
{
    private const int Capacity = 256;
    private readonly Dictionary<(bool Host, long Key), DropoutInputs?> entries = [];
    private readonly Queue<(bool Host, long Key)> order = new();
    private readonly Lock gate = new();

    /// <summary>Records that the forward which wrote the log-sum-exp known as (<paramref name="host"/>, <paramref name="key"/>) ran with <paramref name="dropout"/>.</summary>
    public void Record(bool host, long key, DropoutInputs? dropout)
    {
        lock (gate)
        {
            if (!entries.ContainsKey((host, key)))
            {
                order.Enqueue((host, key));
                if (order.Count > Capacity)
                    entries.Remove(order.Dequeue());
            }
            entries[(host, key)] = dropout;
        }
    }

    /// <summary>Throws if the log-sum-exp's forward is known and ran with other dropout settings than <paramref name="dropout"/>.</summary>
    /// <exception cref="ArgumentException">The dropout settings differ from the forward's.</exception>
    public void Check(bool host, long key, DropoutInputs? dropout)
    {
        lock (gate)
        {
            if (!entries.TryGetValue((host, key), out var recorded) || recorded == dropout)
                return;
            throw new ArgumentException(
                $"The forward pass that wrote this log-sum-exp ran with {Describe(recorded)}; the backward was given {Describe(dropout)}. " +
                "Pass the forward's options (DropoutProbability, DropoutSeed, DropoutOffset) to the backward, so that it regenerates the same mask.",
                "options");
        }
    }

    /// <summary>The key of host log-sum-exp values: a hash of their bytes.</summary>
    public static long HostKey(ReadOnlySpan<float> logSumExp)
    {
        var hash = new HashCode();
        hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(logSumExp));
        return ((long)hash.ToHashCode() << 32) ^ logSumExp.Length;
    }

    private static string Describe(DropoutInputs? dropout) => dropout is null
        ? "no dropout"
        : $"dropout p = {dropout.Probability}, seed {dropout.Seed}, offset {dropout.Offset}";
}
