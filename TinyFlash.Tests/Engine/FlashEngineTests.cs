using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using TinyFlash.Tests.Support;

namespace TinyFlash.Tests.Engine;

public class FlashEngineTests
{
    [Test]
    public void The_CPU_backend_is_always_present_and_describes_itself()
    {
        using var engine = FlashEngine.Create(BackendKind.Cpu);

        Assert.That(engine.Backend, Is.EqualTo(BackendKind.Cpu));
        Assert.That(engine.DeviceName, Is.EqualTo("CPUAccelerator"));
        Assert.That(FlashEngine.ListDevices().Where(d => d.Backend == BackendKind.Cpu).Single().MaxGroupSize, Is.EqualTo(16));
    }

    [Test]
    public void Auto_prefers_CUDA_then_an_OpenCL_GPU_then_the_CPU()
    {
        var devices = FlashEngine.ListDevices();
        var expected = devices.Any(d => d.Backend == BackendKind.Cuda) ? BackendKind.Cuda
            : devices.Any(d => d.Backend == BackendKind.OpenCL && d.IsGpu) ? BackendKind.OpenCL : BackendKind.Cpu;

        using var engine = FlashEngine.Create();

        Assert.That(engine.Backend, Is.EqualTo(expected));
    }

    [Test]
    public void A_wrapped_accelerator_stays_usable_after_the_engine_is_disposed()
    {
        using var context = Context.Create(builder => builder.CPU().EnableAlgorithms());
        using var accelerator = context.GetCPUDevice(0).CreateCPUAccelerator(context);
        FlashEngine.Create(accelerator).Dispose();

        using var buffer = accelerator.Allocate1D<float>(16);
        Assert.That(buffer.Length, Is.EqualTo(16));
        using var again = FlashEngine.Create(accelerator);
        Inputs.AssertEngineWorks(again);
    }

    [Test]
    public void Each_kernel_variant_is_compiled_once()
    {
        using var engine = FlashEngine.Create(BackendKind.Cpu);
        Inputs.AssertEngineWorks(engine);
        int compiled = engine.CompiledKernels;

        Inputs.AssertEngineWorks(engine);

        Assert.That(engine.CompiledKernels, Is.EqualTo(compiled));
    }

    [Test]
    public void Concurrent_calls_on_one_engine_are_serialised_and_all_correct()
    {
        var engine = TestBackend.Cpu.First().Engine;
        var failures = new System.Collections.Concurrent.ConcurrentBag<Exception>();
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            try
            {
                Inputs.AssertEngineWorks(engine);
            }
            catch (Exception e)
            {
                failures.Add(e);
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void Creating_an_engine_selects_PoCLs_continuation_based_barriers_unless_the_user_chose()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Ignore("The workaround sets the variable through libc on Unix only.");
        string? before = Environment.GetEnvironmentVariable("POCL_WORK_GROUP_METHOD");

        using var engine = FlashEngine.Create(BackendKind.Cpu);

        Assert.That(Marshal.PtrToStringUTF8(getenv("POCL_WORK_GROUP_METHOD")), Is.EqualTo(before ?? "cbs"));
    }

    [DllImport("libc")]
    private static extern IntPtr getenv(string name);
}
