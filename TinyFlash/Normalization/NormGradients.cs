namespace TinyFlash;

/// <summary>What a host call of the fused post-processing's backward returns.</summary>
/// <param name="GradX">∂L/∂x, rows × hidden.</param>
/// <param name="GradResidual">∂L/∂residual, rows × hidden.</param>
/// <param name="GradBias">∂L/∂bias, hidden.</param>
/// <param name="GradGamma">∂L/∂γ, hidden.</param>
/// <param name="GradBeta">∂L/∂β, hidden (zeros' worth of nothing for RMSNorm: empty).</param>
/// <typeparam name="T">The storage type of the tensors.</typeparam>
public sealed record NormGradients<T>(T[] GradX, T[] GradResidual, T[] GradBias, T[] GradGamma, T[] GradBeta);
