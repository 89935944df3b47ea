namespace TinyFlash.Attention;

/// <summary>Validated softcap (0: none), ALiBi slopes ([Batch|1, QueryHeads]) and bias of a call.</summary>
internal sealed record ScoreModifierInputs(float Softcap, float[]? AlibiSlopes, bool AlibiPerBatch, AttentionBias? Bias);
