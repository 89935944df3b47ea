using TinyFlash.Reference;
using TinyFlash.Tests.Support;

namespace TinyFlash.Tests.Attention;

/// <summary>
/// The correctness matrix (<see cref="AttentionVerifier.StandardMatrix"/>, the same one <c>TinyFlash.Bench verify</c>
/// runs) on every backend present, against the double-precision reference under FlashAttention's accuracy rule.
/// </summary>
public class CorrectnessMatrixTests
{
    private static IEnumerable<TestCaseData> Cases() =>
        from backend in TestBackend.All
        from c in AttentionVerifier.StandardMatrix()
        select new TestCaseData(backend, c).SetName($"{backend}: {c}");

    [TestCaseSource(nameof(Cases))]
    public void Output_and_log_sum_exp_match_the_double_reference(TestBackend backend, VerificationCase verificationCase)
    {
        var result = AttentionVerifier.Run(backend.Engine, verificationCase);

        Assert.That(result.Passed, Is.True,
            $"error {result.Error:E3} (bound {result.Bound:E3}), log-sum-exp error {result.LogSumExpError:E3}");
    }
}
