using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace TinyFlash.Engine;

/// <summary>
/// The device buffers of one host-convenience call: inputs copied in, outputs allocated, everything freed together
/// when the call ends (also when it throws), through the engine's allocator. An empty span or a zero length gives an
/// empty view: an absent tensor.
/// </summary>
internal sealed class HostStaging(DeviceAllocator allocator) : IDisposable
{
    private readonly List<IDisposable> buffers = [];

    /// <summary>A device copy of <paramref name="values"/>.</summary>
    public ArrayView<T> Upload<T>(ReadOnlySpan<T> values, string name) where T : unmanaged
    {
        var view = Allocate<T>(values.Length, name);
        if (!values.IsEmpty)
            view.CopyFromCPU(ref MemoryMarshal.GetReference(values), values.Length);
        return view;
    }

    /// <summary>A device buffer of <paramref name="length"/> elements.</summary>
    public ArrayView<T> Allocate<T>(long length, string name) where T : unmanaged
    {
        if (length == 0)
            return default;
        var buffer = allocator.Allocate<T>(length, name);
        buffers.Add(buffer);
        return buffer.View;
    }

    /// <summary>The contents of <paramref name="view"/> (empty for an empty view); waits for the work before it.</summary>
    public static T[] Download<T>(ArrayView<T> view) where T : unmanaged
    {
        if (view.Length == 0)
            return [];
        var values = new T[view.Length];
        view.CopyToCPU(values);
        return values;
    }

    /// <summary>Frees every buffer of the call.</summary>
    public void Dispose()
    {
        foreach (var buffer in buffers)
            buffer.Dispose();
        buffers.Clear();
    }
}
