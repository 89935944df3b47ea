using TinyFlash.Reference;
using TinyFlash.Tests.Support;

namespace TinyFlash.Tests.Backward;

/// <summary>
/// The backward matrix (<see cref="AttentionVerifier.BackwardMatrix"/>, which <c>TinyFlash.Bench verify --backward</c>
/// runs on a GPU) on every backend present: dq, dk and dv of the engine's forward and backward against the closed-form
/// double-precision gradients, under the forward's accuracy rule.
/// </summary>
public class BackwardMatrixTests
{
    private static IEnumerable<TestCaseData> Cases() =>
        from backend in TestBackend.All
        from c in AttentionVerifier.BackwardMatrix()
        select new TestCaseData(backend, c).SetName($"{backend}: backward {c}");

    [TestCaseSource(nameof(Cases))]
    public void Gradients_match_the_double_reference(TestBackend backend, VerificationCase verificationCase)
    {
        var result = AttentionVerifier.RunBackward(backend.Engine, verificationCase);

        Assert.That(result.Passed, Is.True, $"worst gradient error {result.Error:E3} (bound {result.Bound:E3})");
    }
}
