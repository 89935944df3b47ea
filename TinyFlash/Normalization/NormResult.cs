namespace TinyFlash;

/// <summary>What a host call of the fused post-processing returns.</summary>
/// <param name="Output">y = Norm(dropout(x + bias) + residual), rows × hidden.</param>
/// <param name="Sum">dropout(x + bias) + residual before the norm: the next layer's residual.</param>
/// <param name="Mean">Per-row mean (0 for RMSNorm), fp32: what the backward needs.</param>
/// <param name="Rstd">Per-row reciprocal standard deviation (root mean square for RMSNorm), fp32.</param>
/// <typeparam name="T">The storage type of the tensors.</typeparam>
public sealed record NormResult<T>(T[] Output, T[] Sum, float[] Mean, float[] Rstd);
