using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Tiling;

namespace TinyFlash.Attention;

/// <summary>
/// Checks every argument of an attention call before anything touches a device, and turns shape and options into
/// an <see cref="AttentionProblem"/>. Each failure is an <see cref="ArgumentException"/> naming the argument and
/// what it should have been.
/// </summary>
internal static class AttentionValidator
{
    /// <summary>Head dimensions the kernels are built for.</summary>
    public static IReadOnlyList<int> SupportedHeadDims { get; } = [32, 64, 80, 96, 128, 160, 192, 256];

    /// <summary>Validates <paramref name="shape"/> and <paramref name="options"/>.</summary>
    public static AttentionProblem Validate(AttentionShape shape, AttentionOptions? options)
    {
        options ??= AttentionOptions.Default;
        if (shape.QueryLength > 0 && shape.KeyLength > 0)
            options = MaskRouting.Route(options, shape).Options;
        RequirePositive(shape.Batch, "shape.Batch");
        RequirePositive(shape.QueryHeads, "shape.QueryHeads");
        RequirePositive(shape.KeyValueHeads, "shape.KeyValueHeads");
        RequirePositive(shape.QueryLength, "shape.QueryLength");
        RequirePositive(shape.KeyLength, "shape.KeyLength");
        if (shape.QueryHeads % shape.KeyValueHeads != 0)
            throw new ArgumentException(
                $"shape.QueryHeads ({shape.QueryHeads}) must be a multiple of shape.KeyValueHeads ({shape.KeyValueHeads}).",
                nameof(shape));
        if (!SupportedHeadDims.Contains(shape.HeadDim))
            throw new ArgumentOutOfRangeException(nameof(shape), shape.HeadDim,
                $"shape.HeadDim must be one of {string.Join(", ", SupportedHeadDims)}; got {shape.HeadDim}.");
        if (!Enum.IsDefined(shape.Layout))
            throw new ArgumentOutOfRangeException(nameof(shape), shape.Layout, "shape.Layout must be Bshd or Bhsd.");
        RequireInt32Indexable(shape.QueryElements, "query and output");
        RequireInt32Indexable(shape.KeyValueElements, "key and value");
        RequireInt32Indexable(shape.LogSumExpElements, "log-sum-exp");

        float scale = options.Scale ?? 1f / MathF.Sqrt(shape.HeadDim);
        if (!float.IsFinite(scale) || scale <= 0f)
            throw new ArgumentOutOfRangeException(nameof(options), scale,
                $"options.Scale must be finite and positive; got {scale}.");
        if (options.WindowLeft < -1)
            throw new ArgumentOutOfRangeException(nameof(options), options.WindowLeft,
                $"options.WindowLeft must be -1 (unbounded) or at least 0; got {options.WindowLeft}.");
        if (options.WindowRight < -1)
            throw new ArgumentOutOfRangeException(nameof(options), options.WindowRight,
                $"options.WindowRight must be -1 (unbounded) or at least 0; got {options.WindowRight}.");

        if (!float.IsFinite(options.DropoutProbability) || options.DropoutProbability < 0f || options.DropoutProbability >= 1f)
            throw new ArgumentOutOfRangeException(nameof(options), options.DropoutProbability,
                $"options.DropoutProbability must be in [0, 1); got {options.DropoutProbability}.");
        if (options.CacheLengths is { } lengths)
            RequireCacheLengths(lengths, shape);
        var packed = Packed(options, shape);
        var modifiers = Modifiers(options, shape, packed);

        // Bottom-right alignment: query i sits on key diagonal i + (KeyLength - QueryLength).
        long offset = (long)shape.KeyLength - shape.QueryLength;
        long low = options.WindowLeft >= 0 ? offset - options.WindowLeft : -AttentionProblem.Unbounded;
        long high = options.WindowRight >= 0 ? offset + options.WindowRight : AttentionProblem.Unbounded;
        if (options.Causal)
            high = Math.Min(high, offset);
        RequireBlockMask(options, shape);
        var mask = options.BlockMask is not null ? MaskKind.BlockSparse
            : options.WindowLeft >= 0 || options.WindowRight >= 0 ? MaskKind.Window
            : options.Causal ? MaskKind.Causal
            : MaskKind.None;
        return new AttentionProblem(shape, scale,
            (int)Math.Clamp(low, -AttentionProblem.Unbounded, AttentionProblem.Unbounded),
            (int)Math.Clamp(high, -AttentionProblem.Unbounded, AttentionProblem.Unbounded),
            mask, options.CacheLengths is { } given ? [.. given] : null, packed, modifiers, options.BlockMask,
            options.DropoutProbability > 0f ? new DropoutInputs(options.DropoutProbability, options.DropoutSeed, options.DropoutOffset) : null);
    }

    /// <summary>A block mask of the call's lengths, batch (or 1) and heads (or 1), alone among the masks.</summary>
    private static void RequireBlockMask(AttentionOptions options, AttentionShape shape)
    {
        if (options.BlockMask is not { } mask)
            return;
        if (options.Causal || options.WindowLeft >= 0 || options.WindowRight >= 0 || options.CacheLengths is not null
            || options.QuerySequenceOffsets is not null || options.Bias is not null)
            throw new ArgumentException(
                "options.BlockMask does not combine with Causal, windows, CacheLengths, packed sequences or Bias: express them in the block mask.", "options");
        if (mask.QueryLength != shape.QueryLength || mask.KeyLength != shape.KeyLength)
            throw new ArgumentException(
                $"options.BlockMask covers {mask.QueryLength} x {mask.KeyLength} scores; the shape has {shape.QueryLength} x {shape.KeyLength}.", "options");
        if (mask.Batch != 1 && mask.Batch != shape.Batch)
            throw new ArgumentException($"options.BlockMask has batch {mask.Batch}; it must be 1 (shared) or shape.Batch = {shape.Batch}.", "options");
        if (mask.Heads != 1 && mask.Heads != shape.QueryHeads)
            throw new ArgumentException($"options.BlockMask has {mask.Heads} heads; it must be 1 (shared) or shape.QueryHeads = {shape.QueryHeads}.", "options");
    }

    /// <summary>Softcap finite and positive; one ALiBi slope per head (or per batch element and head), finite; a bias of a broadcastable shape with no NaN or +∞.</summary>
    private static ScoreModifierInputs? Modifiers(AttentionOptions options, AttentionShape shape, PackedSequences? packed)
    {
        if (options.Softcap is null && options.AlibiSlopes is null && options.Bias is null)
            return null;
        if (options.Softcap is float softcap && (!float.IsFinite(softcap) || softcap <= 0f))
            throw new ArgumentOutOfRangeException("options", softcap, $"options.Softcap must be finite and positive; got {softcap}.");
        float[]? slopes = null;
        if (options.AlibiSlopes is { } given)
        {
            if (given.Count != shape.QueryHeads && given.Count != (long)shape.Batch * shape.QueryHeads)
                throw new ArgumentException(
                    $"options.AlibiSlopes has {given.Count} entries; it needs one per query head ({shape.QueryHeads}) or per batch element and head ({(long)shape.Batch * shape.QueryHeads}).", "options");
            slopes = [.. given];
            for (int i = 0; i < slopes.Length; i++)
                if (!float.IsFinite(slopes[i]))
                    throw new ArgumentOutOfRangeException("options", slopes[i], $"options.AlibiSlopes[{i}] is {slopes[i]}; slopes must be finite.");
        }
        if (options.Bias is { } bias)
        {
            if (packed is not null)
                throw new ArgumentException("options.Bias and packed sequences do not combine: a bias is laid out per batch element, packed sequences share one.", "options");
            if (bias.Batch != 1 && bias.Batch != shape.Batch)
                throw new ArgumentException($"options.Bias has batch {bias.Batch}; it must be 1 (broadcast) or shape.Batch = {shape.Batch}.", "options");
            if (bias.Heads != 1 && bias.Heads != shape.QueryHeads)
                throw new ArgumentException($"options.Bias has {bias.Heads} heads; it must be 1 (broadcast) or shape.QueryHeads = {shape.QueryHeads}.", "options");
            long needed = (long)bias.Batch * bias.Heads * shape.QueryLength * shape.KeyLength;
            RequireInt32Indexable(needed, "bias");
            long length = bias.HostValues?.LongLength ?? bias.DeviceValues.Length;
            if (bias.HostValues is not null ? length != needed : length < needed)
                throw new ArgumentException(
                    $"options.Bias has {length} values; [{bias.Batch}, {bias.Heads}, {shape.QueryLength}, {shape.KeyLength}] needs {(bias.HostValues is not null ? "exactly" : "at least")} {needed}.", "options");
            if (bias.HostValues is { } values)
                for (int i = 0; i < values.Length; i++)
                    if (float.IsNaN(values[i]) || float.IsPositiveInfinity(values[i]))
                        throw new ArgumentOutOfRangeException("options", values[i],
                            $"options.Bias[{i}] is {values[i]}; a bias may be any finite value or −∞ (hidden), not NaN or +∞.");
        }
        return new ScoreModifierInputs(options.Softcap ?? 0f, slopes, slopes is not null && slopes.Length != shape.QueryHeads, options.Bias);
    }

    /// <summary>Packed sequences: offsets from 0, never decreasing, ending at the tensors' lengths, as many for keys as for queries.</summary>
    private static PackedSequences? Packed(AttentionOptions options, AttentionShape shape)
    {
        if (options.QuerySequenceOffsets is null && options.KeySequenceOffsets is null)
            return null;
        if (options.QuerySequenceOffsets is not { } queries || options.KeySequenceOffsets is not { } keys)
            throw new ArgumentException(
                "options.QuerySequenceOffsets and options.KeySequenceOffsets describe packed sequences together; set both or neither.", "options");
        if (options.CacheLengths is not null)
            throw new ArgumentException(
                "options.CacheLengths and packed sequences (options.QuerySequenceOffsets) do not combine; pack each sequence's valid keys instead.", "options");
        if (shape.Batch != 1)
            throw new ArgumentException(
                $"Packed sequences lie one after another in a single batch element; shape.Batch must be 1, not {shape.Batch}.", "options");
        if (queries.Count != keys.Count || queries.Count < 2)
            throw new ArgumentException(
                $"options.QuerySequenceOffsets has {queries.Count} entries and options.KeySequenceOffsets {keys.Count}; both need one per sequence plus one (at least 2), the same number.", "options");
        int longestQuery = RequireOffsets(queries, shape.QueryLength, "options.QuerySequenceOffsets", "shape.QueryLength");
        int longestKey = RequireOffsets(keys, shape.KeyLength, "options.KeySequenceOffsets", "shape.KeyLength");
        return new PackedSequences([.. queries], [.. keys], longestQuery, longestKey);
    }

    /// <summary>Checks one list of cumulative offsets and returns the longest sequence.</summary>
    private static int RequireOffsets(IReadOnlyList<int> offsets, int length, string name, string lengthName)
    {
        if (offsets[0] != 0)
            throw new ArgumentOutOfRangeException("options", offsets[0], $"{name}[0] is {offsets[0]}; cumulative offsets start at 0.");
        int longest = 0;
        for (int s = 1; s < offsets.Count; s++)
        {
            if (offsets[s] < offsets[s - 1])
                throw new ArgumentOutOfRangeException("options", offsets[s],
                    $"{name}[{s}] is {offsets[s]}, below {name}[{s - 1}] = {offsets[s - 1]}; cumulative offsets never decrease.");
            longest = Math.Max(longest, offsets[s] - offsets[s - 1]);
        }
        if (offsets[^1] != length)
            throw new ArgumentOutOfRangeException("options", offsets[^1],
                $"{name} ends at {offsets[^1]}; it must end at the packed tensor's length, {lengthName} = {length}.");
        return longest;
    }

    /// <summary>One length per sequence, each between 0 and the tensors' key length.</summary>
    private static void RequireCacheLengths(IReadOnlyList<int> lengths, AttentionShape shape)
    {
        if (lengths.Count != shape.Batch)
            throw new ArgumentException(
                $"options.CacheLengths has {lengths.Count} entries; it needs one per sequence (shape.Batch = {shape.Batch}).", "options");
        for (int b = 0; b < lengths.Count; b++)
            if (lengths[b] < 0 || lengths[b] > shape.KeyLength)
                throw new ArgumentOutOfRangeException("options", lengths[b],
                    $"options.CacheLengths[{b}] is {lengths[b]}; a cache length must be between 0 and shape.KeyLength ({shape.KeyLength}), the key/value tensors' capacity.");
    }

    /// <summary>Requires a host span to hold exactly the elements the shape describes.</summary>
    public static void RequireExactLength(int actual, long required, string name)
    {
        if (actual != required)
            throw new ArgumentException(
                $"{name} has {actual} elements; the shape needs exactly {required}.", name);
    }

    /// <summary>Requires a device view to be valid, to belong to <paramref name="accelerator"/> and to hold the elements the shape needs.</summary>
    public static void RequireView<T>(ArrayView<T> view, long required, Accelerator accelerator, string name)
        where T : unmanaged
    {
        if (!view.IsValid)
            throw new ArgumentNullException(name, $"{name} is not a valid view (null or default).");
        if (view.Length < required)
            throw new ArgumentException(
                $"{name} has {view.Length} elements; the shape needs at least {required}.", name);
        var owner = ((IArrayView)view).Buffer.Accelerator;
        if (!ReferenceEquals(owner, accelerator))
            throw new ArgumentException(
                $"{name} belongs to accelerator '{owner.Name}', not to this engine's '{accelerator.Name}'.", name);
    }

    /// <summary>Requires <paramref name="output"/> not to share memory with an input the kernel still reads.</summary>
    public static void RequireDisjoint<TOut, TIn>(ArrayView<TOut> output, ArrayView<TIn> input, string outputName, string inputName)
        where TOut : unmanaged
        where TIn : unmanaged
    {
        var (outBuffer, outStart, outEnd) = ByteRange(output);
        var (inBuffer, inStart, inEnd) = ByteRange(input);
        if (ReferenceEquals(outBuffer, inBuffer) && outStart < inEnd && inStart < outEnd)
            throw new ArgumentException($"{outputName} overlaps {inputName}; the output must not alias an input.", outputName);
    }

    private static (object Buffer, long Start, long End) ByteRange<T>(ArrayView<T> view) where T : unmanaged
    {
        long start = ((IContiguousArrayView)view).IndexInBytes;
        return (((IArrayView)view).Buffer, start, start + view.LengthInBytes);
    }

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive; got {value}.");
    }

    private static void RequireInt32Indexable(long elements, string tensor)
    {
        if (elements > int.MaxValue)
            throw new ArgumentOutOfRangeException("shape", elements,
                $"The {tensor} tensor would have {elements} elements; the attention kernels index with 32-bit " +
                $"integers and take at most {int.MaxValue}. Split the batch or the heads into several calls.");
    }
}
