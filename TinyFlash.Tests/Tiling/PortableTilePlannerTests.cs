using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Tiling;

/// <summary>The planner's decisions, pinned for real and synthetic devices, and its limits checked exhaustively.</summary>
public class PortableTilePlannerTests
{
    private static readonly DeviceFacts CpuDefault = new("CPUAccelerator", AcceleratorType.CPU, 4, 16, int.MaxValue, 1, int.MaxValue, int.MaxValue, 16);
    private static readonly DeviceFacts CpuNvidia = new("CPUAccelerator", AcceleratorType.CPU, 32, 1024, int.MaxValue, 1, int.MaxValue, int.MaxValue, 1024);
    private static readonly DeviceFacts PoclCpu = new("cpu-skylake-avx512", AcceleratorType.OpenCL, 4096, 4096, 2 << 20, 16, 2 << 20, int.MaxValue, 4096);
    private static readonly DeviceFacts CudaWithoutOptIn = new("48 KiB CUDA", AcceleratorType.Cuda, 32, 1024, 48 * 1024, 16, 64 * 1024, 65536, 2048);
    private static readonly DeviceFacts AmdLikeOpenCL = new("64 KiB OpenCL GPU", AcceleratorType.OpenCL, 64, 256, 64 * 1024, 60, 64 * 1024, int.MaxValue, 2560);
    private static readonly DeviceFacts TinyOpenCL = new("tiny", AcceleratorType.OpenCL, 8, 64, 8 * 1024, 4, 8 * 1024, int.MaxValue, 256);

    private static DeviceFacts[] Devices => [DeviceFacts.H100, CpuDefault, CpuNvidia, PoclCpu, CudaWithoutOptIn, AmdLikeOpenCL, TinyOpenCL];

    [TestCase(64, 128, 8)]
    [TestCase(128, 64, 16)]
    [TestCase(256, 128, 8)]
    [TestCase(32, 128, 8)]
    public void On_the_H100_a_long_sequence_gets_the_measured_best_tile(int headDim, int blockM, int threadsX)
    {
        var plan = PortableTilePlanner.PlanForward(new AttentionShape(4, 2048 / headDim, 2048 / headDim, 4096, 4096, headDim), DeviceFacts.H100);
        Assert.That((plan.BlockM, plan.ThreadsX), Is.EqualTo((blockM, threadsX)));
    }

    [Test]
    public void On_the_H100_a_small_grid_trades_tile_size_for_busy_multiprocessors()
    {
        var plan = PortableTilePlanner.PlanForward(new AttentionShape(1, 8, 8, 2048, 2048, 128), DeviceFacts.H100);
        Assert.That(plan.BlockM, Is.EqualTo(64), "16 blocks of 128 rows x 8 heads would leave 4 of 132 multiprocessors idle; 64 rows fill all");
    }

    [Test]
    public void The_CPU_accelerator_gets_the_smallest_group_covering_a_warp()
    {
        var shape = new AttentionShape(1, 1, 1, 100, 100, 64);
        Assert.That(PortableTilePlanner.PlanForward(shape, CpuDefault).Threads, Is.EqualTo(16));
        Assert.That(PortableTilePlanner.PlanForward(shape, CpuNvidia).Threads, Is.EqualTo(32));
    }

    [Test]
    public void No_plan_exceeds_a_limit_of_any_device()
    {
        foreach (var device in Devices)
        foreach (int headDim in AttentionValidator.SupportedHeadDims)
        foreach (int length in new[] { 1, 100, 4096 })
        {
            var shape = new AttentionShape(2, 4, 4, length, length, headDim);
            foreach (var plan in PortableTilePlanner.Candidates(shape, device))
            {
                Assert.That(plan.Threads, Is.LessThanOrEqualTo(device.MaxGroupSize), $"{device.Name} d={headDim}: {plan}");
                Assert.That(plan.SharedBytes, Is.LessThanOrEqualTo(device.MaxSharedMemoryPerGroup), $"{device.Name} d={headDim}: {plan}");
                if (device.Type == AcceleratorType.Cuda)
                    Assert.That((long)plan.EstimatedRegisters * plan.Threads, Is.LessThanOrEqualTo(device.RegistersPerMultiprocessor));
                Assert.That(plan.OutputChunks * plan.BlockN, Is.GreaterThanOrEqualTo(headDim), "the output chunks cover every feature");
            }
        }
    }

    [Test]
    public void Every_head_dim_has_a_plan_on_an_OpenCL_GPU_with_64_KiB_of_local_memory()
    {
        foreach (int headDim in AttentionValidator.SupportedHeadDims)
            Assert.That(PortableTilePlanner.PlanForward(new AttentionShape(1, 1, 1, 64, 64, headDim), AmdLikeOpenCL).SharedBytes, Is.LessThanOrEqualTo(64 * 1024));
    }

    [Test]
    public void A_CUDA_device_without_opt_in_shared_memory_plans_head_dims_up_to_128_and_refuses_larger_ones_clearly()
    {
        foreach (int headDim in AttentionValidator.SupportedHeadDims.Where(d => d <= 128))
            Assert.That(PortableTilePlanner.PlanForward(new AttentionShape(1, 1, 1, 64, 64, headDim), CudaWithoutOptIn).SharedBytes, Is.LessThanOrEqualTo(48 * 1024));
        var error = Assert.Throws<NotSupportedException>(() =>
            PortableTilePlanner.PlanForward(new AttentionShape(1, 1, 1, 64, 64, 256), CudaWithoutOptIn))!;
        Assert.That(error.Message, Does.Contain("head dim 256").And.Contain("49152 bytes"));
    }

    [Test]
    public void A_device_too_small_for_any_tile_is_refused_with_its_limits()
    {
        var error = Assert.Throws<NotSupportedException>(() =>
            PortableTilePlanner.PlanForward(new AttentionShape(1, 1, 1, 64, 64, 256), TinyOpenCL))!;
        Assert.That(error.Message, Does.Contain("head dim 256").And.Contain("8192 bytes"));
    }

    [Test]
    public void The_probability_tile_reuses_the_key_tile_when_it_fits()
    {
        var aliased = new TilePlan(64, 16, 128).Geometry;
        var separate = new TilePlan(128, 8, 32).Geometry;
        Assert.That(aliased.ProbabilityOffset4, Is.EqualTo(aliased.KeyOffset4));
        Assert.That(separate.ProbabilityOffset4, Is.GreaterThan(separate.ValueOffset4));
    }

    [TestCase(6, 8)]
    [TestCase(64, 1)]
    public void An_invalid_tile_is_refused(int blockM, int threadsX) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TilePlan(blockM, threadsX, 64));
}
