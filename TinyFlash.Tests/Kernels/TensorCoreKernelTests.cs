using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Attention;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;
using Half = System.Half;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// The tensor-core kernel on ILGPU's warp-32 CPU device, where every inline-PTX instruction runs as its portable
/// twin (shuffles and plain loads): the kernel's fragment indexing, pipelining, masking and online softmax are
/// checked against the double reference under the fp16/bf16 accuracy rule, on shapes that are not multiples of
/// any tile, for small tiles (fast on the emulator) and for the tiles the planner picks on the H100.
/// </summary>
public class TensorCoreKernelTests
{
    private static FlashEngine Engine => TestBackend.TensorCores.Engine;

    private static void AssertCorrect(VerificationCase verificationCase, TensorCorePlan plan) =>
        Verify.Passes(Engine, verificationCase, new ExecutionPlan(plan));

    private static IEnumerable<TestCaseData> SmallTiles()
    {
        var shapes = new (string Name, AttentionShape Shape, AttentionOptions Options)[]
        {
            ("odd lengths", new(1, 1, 1, 37, 45, 32), AttentionOptions.Default),
            ("causal, more queries than keys", new(1, 2, 1, 50, 21, 32, AttentionLayout.Bhsd), new AttentionOptions { Causal = true }),
            ("window both sides", new(2, 1, 1, 40, 70, 32), new AttentionOptions { WindowLeft = 9, WindowRight = 3 }),
            ("single query, single key", new(1, 1, 1, 1, 1, 32), AttentionOptions.Default),
            ("GQA, causal", new(1, 4, 2, 33, 33, 64), new AttentionOptions { Causal = true }),
            ("dropout 0.25, packed sequences at odd offsets", new(1, 2, 1, 45, 52, 32),
                new AttentionOptions { DropoutProbability = 0.25f, DropoutSeed = 3, QuerySequenceOffsets = [0, 21, 45], KeySequenceOffsets = [0, 23, 52] }),
        };
        // Pipelines of 2, 3 and 4 stages, also over fewer key tiles than stages; key tiles of 16, 32 and 48 (dropout's
        // 32-key blocks: every tile a half, whole ones, and tiles starting in either half).
        foreach (var (warps, rowTiles, blockN, stages) in new[] { (1, 1, 16, 2), (2, 2, 32, 3), (1, 2, 16, 4), (1, 1, 48, 2) })
            foreach (var (name, shape, options) in shapes)
                foreach (var type in new[] { ElementType.Float16, ElementType.BFloat16 })
                    yield return new TestCaseData(new TensorCorePlan(warps, rowTiles, blockN, shape.HeadDim, stages), new VerificationCase(name, shape, options, type))
                        .SetName($"{warps}x{rowTiles}x{blockN}x{stages}, {name}, d={shape.HeadDim}, {type}");
    }

    private static IEnumerable<TestCaseData> PlannerTiles()
    {
        foreach (int headDim in new[] { 64, 128, 256 })
        {
            var planShape = new AttentionShape(4, 2048 / headDim, 2048 / headDim, 4096, 4096, headDim);
            var plan = TensorCorePlanner.Candidates(planShape, DeviceFacts.H100)[0];
            var type = headDim % 64 == 0 ? ElementType.Float16 : ElementType.BFloat16;
            var shape = new AttentionShape(1, 1, 1, 70, 75, headDim, headDim == 128 ? AttentionLayout.Bhsd : AttentionLayout.Bshd);
            yield return new TestCaseData(plan, new VerificationCase("H100 tile", shape, new AttentionOptions { Causal = headDim != 64 }, type))
                .SetName($"{plan.Describe()}, d={headDim}, {type}");
        }
    }

    [TestCaseSource(nameof(PlannerTiles))]
    public void The_planners_H100_tiles_match_the_reference(object plan, VerificationCase verificationCase) =>
        AssertCorrect(verificationCase, (TensorCorePlan)plan);

    [TestCaseSource(nameof(SmallTiles))]
    public void Small_tiles_match_the_reference(object plan, VerificationCase verificationCase) =>
        AssertCorrect(verificationCase, (TensorCorePlan)plan);

    [Test]
    public void The_grid_order_that_takes_the_same_block_of_every_head_together_computes_the_same_output()
    {
        var verificationCase = new VerificationCase("GQA, causal", new AttentionShape(2, 4, 2, 40, 40, 32), new AttentionOptions { Causal = true },
            ElementType.Float16);
        Verify.Passes(Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(1, 1, 16, 32), 1, GridOrder.BlocksTogether));
        Verify.Passes(Engine, verificationCase, new ExecutionPlan(new TensorCorePlan(1, 1, 16, 32), 2, GridOrder.BlocksTogether));
        foreach (var backend in TestBackend.Cpu)
        {
            var request = backend.Engine.Forward.Request(AttentionValidator.Validate(verificationCase.Shape, verificationCase.Options),
                verificationCase.Type, aligned: true);
            var tile = PortableTilePlanner.PlanForward(request.Shape, backend.Engine.Facts);
            Verify.Passes(backend.Engine, verificationCase, new ExecutionPlan(tile, 1, GridOrder.BlocksTogether));
        }
    }

    [Test]
    public void Tensors_not_16_byte_aligned_run_on_the_portable_kernel_and_a_forced_tensor_core_plan_is_refused()
    {
        var engine = Engine;
        var shape = new AttentionShape(1, 1, 1, 17, 19, 32);
        var (q, k, v) = Inputs.For(shape);
        using var qBuffer = engine.Accelerator.Allocate1D<Half>(shape.QueryElements + 1);
        using var kBuffer = engine.Accelerator.Allocate1D<Half>(shape.KeyValueElements + 1);
        using var vBuffer = engine.Accelerator.Allocate1D<Half>(shape.KeyValueElements + 1);
        using var oBuffer = engine.Accelerator.Allocate1D<Half>(shape.QueryElements + 1);
        // One element in: 2 bytes past a 16-byte boundary, as a slice of a larger tensor can be.
        var qView = qBuffer.View.BaseView.SubView(1, shape.QueryElements);
        var kView = kBuffer.View.BaseView.SubView(1, shape.KeyValueElements);
        var vView = vBuffer.View.BaseView.SubView(1, shape.KeyValueElements);
        var oView = oBuffer.View.BaseView.SubView(1, shape.QueryElements);
        qView.CopyFromCPU(Array.ConvertAll(q, x => (Half)x));
        kView.CopyFromCPU(Array.ConvertAll(k, x => (Half)x));
        vView.CopyFromCPU(Array.ConvertAll(v, x => (Half)x));

        engine.Attention(qView, kView, vView, oView, shape);
        var outputHalves = new Half[shape.QueryElements];
        oView.CopyToCPU(outputHalves);
        float[] output = Array.ConvertAll(outputHalves, x => (float)x);
        var rounded = (Q: Array.ConvertAll(q, x => (float)(Half)x), K: Array.ConvertAll(k, x => (float)(Half)x), V: Array.ConvertAll(v, x => (float)(Half)x));
        double[] reference = ReferenceAttention.Compute(rounded.Q, rounded.K, rounded.V, shape, AttentionOptions.Default);
        double error = AccuracyRule.MaxAbsoluteError(output, reference);

        Assert.That(error, Is.LessThan(1e-2), "the misaligned call is computed (by the portable kernel)");
        var refused = Assert.Throws<ArgumentException>(() => engine.AttentionWithPlan(qView, kView, vView, oView, shape,
            AttentionOptions.Default, default, new ExecutionPlan(new TensorCorePlan(1, 1, 16, 32))));
        Assert.That(refused!.Message, Does.Contain("16-byte aligned"));
        Inputs.AssertEngineWorks(engine);
    }
}
