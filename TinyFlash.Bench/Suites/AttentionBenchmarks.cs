using BenchmarkDotNet.Attributes;
using TinyFlash.Bench.Measurement;
using TinyFlash.Reference;

namespace TinyFlash.Bench.Suites;

/// <summary>
/// BenchmarkDotNet suite of one attention call per backend present: GPUs at a FlashAttention benchmark shape
/// (B=4, H=16, N=4096, d=128), CPU devices (ILGPU's accelerator, OpenCL CPU runtimes) at a small one. Each invocation synchronises, so the time is the kernel's.
/// Run through <c>TinyFlash.Bench bench</c>, which uses the in-process toolchain (the GPU machine has no SDK).
/// </summary>
public class AttentionBenchmarks
{
    private FlashEngine? engine;
    private AttentionWorkload? workload;

    /// <summary>The backend, storage type and shape of one benchmark.</summary>
    [ParamsSource(nameof(Cases))]
    public AttentionBenchmarkCase Case { get; set; } = null!;

    /// <summary>A case per backend present and storage type.</summary>
    public static IEnumerable<AttentionBenchmarkCase> Cases()
    {
        foreach (var device in FlashEngine.ListDevices().DistinctBy(d => d.Backend))
        foreach (var type in Enum.GetValues<ElementType>())
        {
            yield return device.IsGpu
                ? new AttentionBenchmarkCase(device.Backend, type, new AttentionShape(4, 16, 16, 4096, 4096, 128), Causal: false)
                : new AttentionBenchmarkCase(device.Backend, type, new AttentionShape(1, 4, 4, 256, 256, 64), Causal: false);
        }
    }

    /// <summary>Creates the engine and uploads the inputs.</summary>
    [GlobalSetup]
    public void Setup()
    {
        engine = FlashEngine.Create(Case.Backend);
        workload = AttentionWorkload.Create(engine, Case.Shape, new AttentionOptions { Causal = Case.Causal }, Case.Type);
    }

    /// <summary>One forward attention call, synchronised.</summary>
    [Benchmark]
    public void Attention()
    {
        workload!.Run();
        engine!.Accelerator.Synchronize();
    }

    /// <summary>Frees the device memory and the engine.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        workload?.Dispose();
        engine?.Dispose();
    }
}

/// <summary>One benchmark configuration; its text is what BenchmarkDotNet prints in the Case column.</summary>
public sealed record AttentionBenchmarkCase(BackendKind Backend, ElementType Type, AttentionShape Shape, bool Causal)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Backend} {Type} B{Shape.Batch} H{Shape.QueryHeads} N{Shape.QueryLength} d{Shape.HeadDim}{(Causal ? " causal" : "")}";
}
