namespace TinyFlash.Tiling;

/// <summary>
/// A tile whose kernel keeps <see cref="Stages"/> key/value tiles in shared memory at once (a <c>cp.async</c> pipeline:
/// while one is used, the others are on their way), from two to <see cref="MaxStages"/>.
/// </summary>
internal interface IPipelinedPlan
{
    /// <summary>Key/value tiles in shared memory at once.</summary>
    int Stages { get; }

    /// <summary>Most pipeline stages the kernel supports.</summary>
    int MaxStages { get; }

    /// <summary>The same tile with <paramref name="stages"/> pipeline stages.</summary>
    ForwardPlan WithStages(int stages);
}
