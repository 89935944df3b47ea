using ILGPU;
using ILGPU.Runtime;

namespace TinyFlash.Tests.Support;

/// <summary>fp32 q, k, v uploaded to an engine's accelerator and an output buffer of the query's size.</summary>
internal sealed class DeviceTensors : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> q, k, v, output;

    public DeviceTensors(FlashEngine engine, float[] query, float[] key, float[] value)
    {
        q = engine.Accelerator.Allocate1D(query);
        k = engine.Accelerator.Allocate1D(key);
        v = engine.Accelerator.Allocate1D(value);
        output = engine.Accelerator.Allocate1D<float>(query.Length);
    }

    public ArrayView<float> Q => q.View;
    public ArrayView<float> K => k.View;
    public ArrayView<float> V => v.View;
    public ArrayView<float> Output => output.View;

    public void Dispose()
    {
        q.Dispose();
        k.Dispose();
        v.Dispose();
        output.Dispose();
    }
}
