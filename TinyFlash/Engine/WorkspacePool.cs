using ILGPU;
using ILGPU.Runtime;

namespace TinyFlash.Engine;

/// <summary>
/// The engine's scratch memory on the device: the fp32 partial outputs and log-sum-exp of key splits, and the
/// per-sequence lengths or offsets of a call. Each buffer grows to the largest request seen (at least doubling, so growth
/// is rare) and is reused by every later call, so that a steady stream of calls allocates nothing. The float buffer
/// never exceeds <see cref="LimitBytes"/> (the planner keeps split counts under it). Calls on an engine are
/// serialised and run in order on its stream, so one buffer serves them all. Freed with the engine.
/// </summary>
internal sealed class WorkspacePool(Accelerator accelerator, DeviceAllocator allocator, long limitBytes) : IDisposable
{
    private DeviceBuffer<float>? floats;
    private DeviceBuffer<float>? inputs;
    private DeviceBuffer<int>? ints;
    private DeviceBuffer<float>? zeros;

    /// <summary>Most bytes the float workspace may take.</summary>
    public long LimitBytes { get; } = limitBytes;

    /// <summary>Device allocations the pool has made so far (a steady workload stops adding to it).</summary>
    public int Allocations { get; private set; }

    /// <summary>Device buffers the pool holds now (they live until the engine is disposed).</summary>
    public int HeldBuffers => (floats is null ? 0 : 1) + (inputs is null ? 0 : 1) + (ints is null ? 0 : 1) + (zeros is null ? 0 : 1);

    /// <summary>Bytes the pool holds now.</summary>
    public long HeldBytes => (floats?.View.LengthInBytes ?? 0) + (inputs?.View.LengthInBytes ?? 0) + (ints?.View.LengthInBytes ?? 0)
        + (zeros?.View.LengthInBytes ?? 0);

    /// <summary>A view of <paramref name="count"/> floats, valid until the next call that rents from the pool.</summary>
    /// <exception cref="InvalidOperationException">The request exceeds <see cref="LimitBytes"/> (a planner bug).</exception>
    public ArrayView<float> Floats(long count)
    {
        if (4 * count > LimitBytes)
            throw new InvalidOperationException($"A workspace of {4 * count} bytes exceeds the engine's bound of {LimitBytes} bytes.");
        floats = Grow(floats, count, LimitBytes / 4, "split workspace");
        return floats.View.SubView(0, count);
    }

    /// <summary>
    /// <paramref name="count"/> zero elements of <typeparamref name="T"/>, never written: what a kernel reads for an absent
    /// per-feature input (the norm's bias, β, or its residual's one row), so that its loads need no condition. Valid
    /// until the next call that rents from the pool.
    /// </summary>
    public ArrayView<T> Zeros<T>(long count) where T : unmanaged
    {
        long floatCount = (count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>() + 3) / 4;
        if (zeros is null || zeros.View.Length < floatCount)
        {
            zeros = Grow(zeros, floatCount, long.MaxValue, "zeros");
            zeros.View.MemSetToZero();
        }
        return zeros.View.Cast<T>().SubView(0, count);
    }

    /// <summary>
    /// Per-sequence integers of a call (cache lengths, packed-sequence offsets) copied to the device, as a view of
    /// exactly their count, valid until the next call that rents from the pool.
    /// </summary>
    public ArrayView<int> Ints(IReadOnlyList<int> values)
    {
        ints = Grow(ints, values.Count, long.MaxValue, "sequence lengths");
        var view = ints.View.SubView(0, values.Count);
        view.CopyFromCPU(values as int[] ?? [.. values]);
        return view;
    }

    /// <summary>
    /// Host values a call's kernels read (ALiBi slopes, a bias given on the host) copied to the device, one view per
    /// part, valid until the next call that rents from the pool.
    /// </summary>
    public ArrayView<float>[] Upload(params float[][] parts)
    {
        long total = parts.Sum(part => (long)part.Length);
        inputs = Grow(inputs, total, long.MaxValue, "score modifier inputs");
        var views = new ArrayView<float>[parts.Length];
        long offset = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length == 0)
                continue;
            views[i] = inputs.View.SubView(offset, parts[i].Length);
            views[i].CopyFromCPU(parts[i]);
            offset += parts[i].Length;
        }
        return views;
    }

    /// <summary>Frees every buffer.</summary>
    public void Dispose()
    {
        floats?.Dispose();
        inputs?.Dispose();
        ints?.Dispose();
        zeros?.Dispose();
        zeros = null;
        floats = null;
        inputs = null;
        ints = null;
    }

    private DeviceBuffer<T> Grow<T>(DeviceBuffer<T>? current, long count, long maxCount, string name) where T : unmanaged
    {
        if (current is not null && current.View.Length >= count)
            return current;
        long size = Math.Min(maxCount, Math.Max(count, 2 * (current?.View.Length ?? 0)));
        if (current is not null)
        {
            accelerator.Synchronize(); // earlier launches on the stream may still read the old buffer
            current.Dispose();
        }
        var grown = allocator.Allocate<T>(Math.Max(1, size), name);
        Allocations++;
        return grown;
    }
}
