using ILGPU;

namespace TinyFlash;

/// <summary>
/// An additive bias on the attention logits, or a boolean mask, for what no structured mask covers:
/// <c>softmax(Q·Kᵀ·scale + bias)·V</c>, with the bias laid out [<see cref="Batch"/>, <see cref="Heads"/>,
/// QueryLength, KeyLength] and broadcast over a batch or head dimension of size 1. A mask is a bias of 0 where a key
/// is visible and −∞ where it is not; a row that sees no key gets zeros. Give it through
/// <see cref="AttentionOptions.Bias"/>.
/// </summary>
/// <example>
/// <code>
/// // one relative-position bias shared by every batch element, one per head:
/// var options = new AttentionOptions { Bias = AttentionBias.FromValues(bias, batch: 1, heads: 8) };
/// // a boolean mask for every head of each sequence:
/// var masked = new AttentionOptions { Bias = AttentionBias.FromMask(visible, batch: 4, heads: 1) };
/// </code>
/// </example>
public sealed class AttentionBias
{
    private readonly Lock gate = new();
    private MaskPattern? pattern;

    private AttentionBias(float[]? hostValues, ArrayView<float> deviceValues, int batch, int heads, bool[]? mask = null)
    {
        Mask = mask;
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        HostValues = hostValues;
        DeviceValues = deviceValues;
        Batch = batch;
        Heads = heads;
    }

    /// <summary>1 (the same bias for every batch element) or the call's batch size.</summary>
    public int Batch { get; }

    /// <summary>1 (the same bias for every head) or the call's query heads.</summary>
    public int Heads { get; }

    /// <summary>The values, when they were given on the host (copied to the device at each call).</summary>
    internal float[]? HostValues { get; }

    /// <summary>The values, when they were given on the device.</summary>
    internal ArrayView<float> DeviceValues { get; }

    /// <summary>The boolean mask this bias was made from (<see cref="FromMask"/>), if it was.</summary>
    internal bool[]? Mask { get; }

    /// <summary>The structure of <see cref="Mask"/> as one [QueryLength, KeyLength] plane, analyzed on first use and kept.</summary>
    internal MaskPattern PatternOf(int queryLength, int keyLength)
    {
        lock (gate)
            return pattern ??= SparsityAnalyzer.Analyze(Mask, queryLength, keyLength);
    }

    /// <summary>A bias from host values, [batch, heads, QueryLength, KeyLength]; NaN and +∞ are refused at the call.</summary>
    public static AttentionBias FromValues(float[] values, int batch = 1, int heads = 1)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new AttentionBias(values, default, batch, heads);
    }

    /// <summary>
    /// A boolean mask (true: visible), [batch, heads, QueryLength, KeyLength], as a bias of 0 and −∞. A mask shared by
    /// every batch element and head that is exactly causal, a sliding window or block-diagonal runs on the kernel for
    /// that structure instead (<see cref="SparsityAnalyzer"/>); the mask itself is then not read.
    /// </summary>
    public static AttentionBias FromMask(bool[] visible, int batch = 1, int heads = 1)
    {
        ArgumentNullException.ThrowIfNull(visible);
        return new AttentionBias(Array.ConvertAll(visible, v => v ? 0f : float.NegativeInfinity), default, batch, heads, visible);
    }

    /// <summary>
    /// A bias already on the engine's accelerator, read in place. Its values are not checked (NaN or +∞ in it make
    /// the rows they touch NaN).
    /// </summary>
    public static AttentionBias OnDevice(ArrayView<float> values, int batch = 1, int heads = 1)
    {
        if (!values.IsValid)
            throw new ArgumentNullException(nameof(values), "values is not a valid view (null or default).");
        return new AttentionBias(null, values, batch, heads);
    }
}
