using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace TinyFlash.Attention;

/// <summary>
/// Remembers, for each device log-sum-exp tensor the engine's forward wrote, which dropout it ran with, so that a
/// backward given that tensor with other dropout settings (a different seed, offset or probability: the gradient of a
/// mask the forward never used) is refused instead of silently wrong. A tensor is known by its buffer object and byte
/// offset, held weakly: a freed and reallocated buffer is a new object, so a record never outlives its memory.
/// What cannot be checked: a log-sum-exp the engine did not write, one rewritten by other code since, and host arrays
/// (the log-sum-exp does not depend on dropout, so its values cannot tell two forwards apart).
/// </summary>
internal sealed class DropoutLedger
{
    private readonly ConditionalWeakTable<object, Dictionary<long, DropoutInputs?>> entries = [];

    /// <summary>Records that the forward which wrote <paramref name="logSumExp"/> ran with <paramref name="dropout"/>.</summary>
    public void Record(ArrayView<float> logSumExp, DropoutInputs? dropout)
    {
        var (buffer, offset) = Key(logSumExp);
        var records = entries.GetOrCreateValue(buffer);
        lock (records)
            records[offset] = dropout;
    }

    /// <summary>Throws if <paramref name="logSumExp"/>'s forward is known and ran with other dropout settings than <paramref name="dropout"/>.</summary>
    /// <exception cref="ArgumentException">The dropout settings differ from the forward's.</exception>
    public void Check(ArrayView<float> logSumExp, DropoutInputs? dropout)
    {
        var (buffer, offset) = Key(logSumExp);
        if (!entries.TryGetValue(buffer, out var records))
            return;
        DropoutInputs? recorded;
        lock (records)
            if (!records.TryGetValue(offset, out recorded))
                return;
        if (recorded == dropout)
            return;
        throw new ArgumentException(
            $"The forward pass that wrote this log-sum-exp ran with {Describe(recorded)}; the backward was given {Describe(dropout)}. " +
            "Pass the forward's options (DropoutProbability, DropoutSeed, DropoutOffset) to the backward, so that it regenerates the same mask.",
            "options");
    }

    private static (object Buffer, long Offset) Key(ArrayView<float> view) =>
        (((IArrayView)view).Buffer, ((IContiguousArrayView)view).IndexInBytes);

    private static string Describe(DropoutInputs? dropout) => dropout is null
        ? "no dropout"
        : $"dropout p = {dropout.Probability}, seed {dropout.Seed}, offset {dropout.Offset}";
}
