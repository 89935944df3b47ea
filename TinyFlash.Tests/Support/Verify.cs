using TinyFlash.Reference;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Support;

/// <summary>Runs a verification case and asserts it passes, with the errors in the failure message.</summary>
internal static class Verify
{
    /// <summary>Asserts <paramref name="verificationCase"/> passes on <paramref name="engine"/> with <paramref name="plan"/> (or the planner's).</summary>
    public static void Passes(FlashEngine engine, VerificationCase verificationCase, ExecutionPlan? plan = null)
    {
        var result = AttentionVerifier.Run(engine, verificationCase, plan);
        Assert.That(result.Passed, Is.True,
            $"{plan?.Describe() ?? "planner"}: error {result.Error:E3} (bound {result.Bound:E3}), log-sum-exp error {result.LogSumExpError:E3}");
    }
}
