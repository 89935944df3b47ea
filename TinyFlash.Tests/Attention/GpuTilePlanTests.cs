using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Attention;

/// <summary>
/// The tile plans the planner chooses on the H100 (groups of up to 512 threads, 64–128 query rows, 32–64 keys),
/// run on ILGPU's NVIDIA-like CPU device. CI never sees a GPU; this is where the exact tiling the GPU runs is
/// checked against the reference, on shapes that are not multiples of those tiles.
/// </summary>
public class GpuTilePlanTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        foreach (int headDim in new[] { 32, 64, 80, 96, 128, 160, 192, 256 })
        {
            var planShape = new AttentionShape(4, 2048 / headDim, 2048 / headDim, 4096, 4096, headDim);
            foreach (var plan in PortableTilePlanner.Candidates(planShape, DeviceFacts.H100).Take(2))
            foreach (bool causal in new[] { false, true })
            {
                var type = (ElementType)((headDim / 32 + (causal ? 1 : 0)) % 3);
                var shape = new AttentionShape(2, 2, 1, 200, 129, headDim, causal ? AttentionLayout.Bhsd : AttentionLayout.Bshd);
                yield return new TestCaseData(plan.BlockM, plan.ThreadsX, new VerificationCase("H100 tile", shape, new AttentionOptions { Causal = causal }, type))
                    .SetName($"{plan.BlockM}x{plan.BlockN} tile, {plan.Threads} threads, d={headDim}, {type}{(causal ? ", causal" : "")}");
            }
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void The_planners_H100_tile_is_correct_on_a_warp_32_device(int blockM, int threadsX, VerificationCase verificationCase)
    {
        var plan = new TilePlan(blockM, threadsX, verificationCase.Shape.HeadDim);

        var result = AttentionVerifier.Run(TestBackend.Warp32.Engine, verificationCase, plan: new ExecutionPlan(plan));

        Assert.That(result.Passed, Is.True,
            $"error {result.Error:E3} (bound {result.Bound:E3}), log-sum-exp error {result.LogSumExpError:E3}");
    }
}
