namespace TinyFlash.Attention;

/// <summary>Validated softcap (0: none), ALiBi slopes ([Batch|1, QueryHeads]) and bias of a call.</summary>
internal sealed record ScoreModifierInputs(float Softcap, float[]? AlibiSlopes, bool AlibiPerBatch, AttentionBias? Bias);

/// <summary>Validated dropout on the attention probabilities: probability in (0, 1), and the Philox stream's seed and offset.</summary>
internal sealed record DropoutInputs(float Probability, ulong Seed, ulong Offset);
