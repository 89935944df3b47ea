using ILGPU;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The argument of the fused normalisation's backward: the forward's inputs (x, residual, bias, gamma, to regenerate
/// the pre-norm sum and its dropout mask), its per-row statistics, the output gradient, the gradients to write, and
/// the per-block partial sums of the per-feature gradients ([blocks][3][hidden]: γ, β, bias). An empty view is an
/// absent input or an unwanted gradient.
/// </summary>
internal struct NormBackwardParams<T> where T : unmanaged
{
    public NormParams<T> Forward;

    public ArrayView<T> GradOutput, GradX, GradResidual, GradBias, GradGamma, GradBeta;

    public ArrayView<float> Partials;

    /// <summary>Device addresses of dy and of the forward's statistics, where the row pass copies them with <c>cp.async</c> (CUDA).</summary>
    public ulong GradOutputAddress, MeanAddress, RstdAddress;

    /// <summary>Row blocks (every Blocks-th row each), whose partials the column pass adds.</summary>
    public int Blocks;

    /// <summary>Consecutive features a group of <see cref="FeatureGradientKernel{T, TCodec}"/> sums.</summary>
    public int FeaturesAGroup;
}
