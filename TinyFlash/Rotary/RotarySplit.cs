using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Engine;
using TinyFlash.Kernels.Rotary;

namespace TinyFlash.Rotary;

/// <summary>
/// The pre-processing operator: validates a packed QKV projection against the attention shape it feeds and launches
/// <see cref="RotaryQkvSplitKernel{T, TCodec}"/>.
/// </summary>
internal sealed class RotarySplit(Accelerator accelerator, KernelCache kernels, WorkspacePool workspace)
{
    /// <summary>
    /// Checks the shape (queries and keys of one length: the projection's tokens; an even head dim), the options and
    /// the projection's length (tokens × (Hq + 2·Hkv)·d).
    /// </summary>
    public static void Validate(long qkvLength, AttentionShape shape, RotaryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        AttentionValidator.Validate(shape, null);
        if (shape.QueryLength != shape.KeyLength)
            throw new ArgumentException(
                $"A projection gives queries and keys of the same tokens; shape.QueryLength ({shape.QueryLength}) and shape.KeyLength ({shape.KeyLength}) differ.", nameof(shape));
        long width = (long)(shape.QueryHeads + 2 * shape.KeyValueHeads) * shape.HeadDim;
        long tokens = (long)shape.Batch * shape.QueryLength;
        if (qkvLength != tokens * width)
            throw new ArgumentException(
                $"qkv has {qkvLength} elements; {tokens} tokens of (QueryHeads + 2·KeyValueHeads)·HeadDim = ({shape.QueryHeads} + 2·{shape.KeyValueHeads})·{shape.HeadDim} = {width} need {tokens * width}.", "qkv");
        if (!Enum.IsDefined(options.Style))
            throw new ArgumentOutOfRangeException(nameof(options), options.Style, "options.Style must be HalfSplit or Interleaved.");
        if (!float.IsFinite(options.Base) || options.Base <= 0f)
            throw new ArgumentOutOfRangeException(nameof(options), options.Base, $"options.Base must be finite and positive; got {options.Base}.");
        if (options.QueryScale is float scale && (!float.IsFinite(scale) || scale <= 0f))
            throw new ArgumentOutOfRangeException(nameof(options), scale, $"options.QueryScale must be finite and positive; got {scale}.");
        if (options.PositionOffsets is { } offsets)
        {
            if (offsets.Count != shape.Batch)
                throw new ArgumentException($"options.PositionOffsets has {offsets.Count} entries; it needs one per batch element ({shape.Batch}).", nameof(options));
            for (int b = 0; b < offsets.Count; b++)
                if (offsets[b] < 0)
                    throw new ArgumentOutOfRangeException(nameof(options), offsets[b], $"options.PositionOffsets[{b}] is {offsets[b]}; positions start at 0 or later.");
        }
    }

    /// <summary>Launches on the default stream; <typeparamref name="T"/> is the storage (float, or ushort bits).</summary>
    public void Run<T>(ArrayView<T> qkv, ArrayView<T> query, ArrayView<T> key, ArrayView<T> value, AttentionShape shape,
        RotaryOptions options, ElementType type) where T : unmanaged
    {
        var (_, codec) = ForwardAttention.StorageOf(type, accelerator.AcceleratorType);
        var entryPoint = typeof(RotaryQkvSplitKernel<,>).MakeGenericType(typeof(T), codec)
            .GetMethod(nameof(RotaryQkvSplitKernel<float, Kernels.Elements.Float32Codec>.Run))!;
        var (launch, maxThreads) = kernels.Load<Action<AcceleratorStream, KernelConfig, RotaryParams<T>>>(entryPoint);
        int heads = shape.QueryHeads + 2 * shape.KeyValueHeads;
        launch(accelerator.DefaultStream, RotaryQkvSplitKernel<float, Kernels.Elements.Float32Codec>.Launch(
                (long)shape.Batch * shape.QueryLength, heads, shape.HeadDim, threadsWanted: 256, maxThreads),
            new RotaryParams<T>
            {
                Qkv = qkv, Query = query, Key = key, Value = value,
                QueryStrides = ForwardAttention.Strides(shape.Layout, shape.QueryHeads, shape.QueryLength, shape.HeadDim),
                KeyStrides = ForwardAttention.Strides(shape.Layout, shape.KeyValueHeads, shape.KeyLength, shape.HeadDim),
                PositionOffsets = options.PositionOffsets is { } offsets ? workspace.Ints(offsets) : default,
                Sequence = shape.QueryLength, QueryHeads = shape.QueryHeads, KeyValueHeads = shape.KeyValueHeads, HeadDim = shape.HeadDim,
                Interleaved = options.Style == RotaryStyle.Interleaved ? 1 : 0,
                FrequencyExponent = -2f * MathF.Log2(options.Base) / shape.HeadDim,
                QueryScale = options.QueryScale ?? 1f,
                WholeQuads = ForwardAttention.Aligned(4L * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), [qkv, query, key, value]) ? 1 : 0,
            });
    }
}
