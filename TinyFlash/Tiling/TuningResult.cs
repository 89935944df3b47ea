namespace TinyFlash;

/// <summary>
/// What <see cref="FlashEngine.Tune"/> found for one shape bucket: the fastest configuration, the planner's default
/// beside it, and every candidate's time.
/// </summary>
/// <param name="Plan">The chosen configuration, e.g. <c>tensor-core 4x2x64, 2 key splits</c>.</param>
/// <param name="Milliseconds">Its median time per call.</param>
/// <param name="DefaultPlan">The planner's choice for the shape.</param>
/// <param name="DefaultMilliseconds">Its median time per call in the same run.</param>
/// <param name="Candidates">Every configuration timed, in the order they ran.</param>
/// <param name="CacheKey">The bucket the result was recorded under in the tuning cache.</param>
public sealed record TuningResult(
    string Plan,
    double Milliseconds,
    string DefaultPlan,
    double DefaultMilliseconds,
    IReadOnlyList<TuningCandidate> Candidates,
    string CacheKey)
{
    /// <summary>How much faster the chosen configuration is than the planner's: default time over chosen time.</summary>
    public double Speedup => DefaultMilliseconds / Milliseconds;
}

/// <summary>One configuration the tuner timed.</summary>
/// <param name="Plan">The configuration.</param>
/// <param name="Milliseconds">Median time per call; <c>null</c> if it could not run (see <paramref name="Error"/>).</param>
/// <param name="Error">Why it could not run, if it could not.</param>
public sealed record TuningCandidate(string Plan, double? Milliseconds, string? Error);

/// <summary>Progress of a tuning run, reported after each candidate.</summary>
/// <param name="Done">Candidates timed so far.</param>
/// <param name="Total">Candidates in all.</param>
/// <param name="Candidate">The candidate just timed.</param>
public readonly record struct TuningProgress(int Done, int Total, TuningCandidate Candidate);
