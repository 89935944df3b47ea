using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;

namespace TinyFlash.Tests.Support;

/// <summary>
/// A backend the suite runs on: ILGPU's CPU accelerator as its default device (warp size 4, 16 threads a group)
/// and as its NVIDIA-like device (warp size 32, 1024 threads), the default device again running the kernels OpenCL
/// gets (tiles in a static shared block), the NVIDIA-like device again with fp16/bf16 on the tensor-core kernel (its
/// PTX instructions replaced by their portable twins), and the first OpenCL device ILGPU lists, if any.
/// Engines are created once per backend and shared (compiling kernels is the slow part of a test).
/// </summary>
public sealed class TestBackend
{
    private static readonly Lazy<FlashEngine?> TensorCoreEngine = new(() => CreateCpu(CPUDevice.Nvidia, tensorCores: true));

    private static readonly Lazy<FlashEngine?> OneStageTensorCoreEngine = new(() =>
    {
        var engine = CreateCpu(CPUDevice.Nvidia, tensorCores: true);
        engine.Backward.MostTensorCoreStages = 1;
        return engine;
    });

    private static readonly Lazy<FlashEngine?> MmaKeyPassTensorCoreEngine = new(() =>
    {
        var engine = CreateCpu(CPUDevice.Nvidia, tensorCores: true);
        engine.Backward.WarpGroupPasses = false;
        return engine;
    });

    private static readonly Dictionary<string, Lazy<FlashEngine?>> Engines = new()
    {
        ["cpu-warp4"] = new(() => CreateCpu(CPUDevice.Default)),
        ["cpu-warp32"] = new(() => CreateCpu(CPUDevice.Nvidia)),
        ["cpu-opencl-kernels"] = new(() => CreateCpu(CPUDevice.Default, staticSharedMemory: true)),
        ["opencl"] = new(CreateOpenCL),
    };

    private TestBackend(string name) => Name = name;

    /// <summary>The backend's name, as test names show it.</summary>
    public string Name { get; }

    /// <summary>Every backend, present or not; tests on an absent one are ignored with the reason.</summary>
    public static IEnumerable<TestBackend> All => Engines.Keys.Select(name => new TestBackend(name));

    /// <summary>The CPU backends, which every machine has.</summary>
    public static IEnumerable<TestBackend> Cpu => All.Where(b => b.Name.StartsWith("cpu", StringComparison.Ordinal));

    /// <summary>The NVIDIA-like CPU device: the one that runs GPU-sized tiles (up to 1024 threads a group).</summary>
    public static TestBackend Warp32 => new("cpu-warp32");

    /// <summary>The NVIDIA-like CPU device with fp16/bf16 on the tensor-core kernels (mma.sync and warpgroup), their instructions emulated.</summary>
    public static TestBackend TensorCores => new("cpu-tensor-cores");

    /// <summary>
    /// <see cref="TensorCores"/> with the tensor-core backward's streamed tiles in one stage, as on a device whose shared
    /// memory does not hold two (head dim 128 under 103 KiB a group).
    /// </summary>
    public static TestBackend TensorCoresOneStage => new("cpu-tensor-cores-one-stage");

    /// <summary>
    /// <see cref="TensorCores"/> with the backward's key-block pass on <c>mma.sync</c> at every head dim (as on Ampere and
    /// Ada, which have no warpgroup products).
    /// </summary>
    public static TestBackend TensorCoresMmaKeyPass => new("cpu-tensor-cores-mma-key-pass");

    // The tensor-core engine is not in All: its emulated mma (32 shuffles each) is slow enough on the CPU that it
    // gets its own suite of small shapes (TensorCoreKernelTests) rather than the whole matrix.

    /// <summary>The backend's shared engine; ignores the test if the backend is not present.</summary>
    public FlashEngine Engine => (Name switch
    {
        "cpu-tensor-cores" => TensorCoreEngine,
        "cpu-tensor-cores-one-stage" => OneStageTensorCoreEngine,
        "cpu-tensor-cores-mma-key-pass" => MmaKeyPassTensorCoreEngine,
        _ => Engines[Name],
    }).Value ?? IgnoreAbsent();

    /// <inheritdoc/>
    public override string ToString() => Name;

    private FlashEngine IgnoreAbsent()
    {
        Assert.Ignore("ILGPU lists no OpenCL device here (it requires OpenCL C 2.0 with generic address space; " +
                      "Debian's PoCL 3.1 offers 1.2). OpenCL is verified on the GPU machine with `TinyFlash.Bench verify --backend opencl`.");
        return null!;
    }

    private static FlashEngine CreateCpu(CPUDevice device, bool staticSharedMemory = false, bool tensorCores = false)
    {
        var context = Context.Create(builder => builder.CPU(device).EnableAlgorithms()
            .Optimize(OptimizationLevel.O2).Math(MathMode.Fast));
        var engine = FlashEngine.Create(context.GetCPUDevice(0).CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel));
        engine.Forward.StaticSharedMemory = staticSharedMemory;
        engine.Forward.TensorCores = tensorCores;
        engine.Forward.WarpGroups = tensorCores;
        return engine;
    }

    private static FlashEngine? CreateOpenCL()
    {
        using var probe = Context.Create(builder => builder.OpenCL());
        return probe.GetCLDevices().Count == 0 ? null : FlashEngine.Create(BackendKind.OpenCL);
    }
}
