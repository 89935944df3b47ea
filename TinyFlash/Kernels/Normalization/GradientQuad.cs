using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The registers of one quad in the norm backward: its fetched inputs, dy and γ (each fetched for every quad of the
/// thread before any is converted, dead once converted), its pre-norm sums and kept features (this row's), and its
/// features' sums of dγ, dβ and dbias over the rows of the group's block.
/// </summary>
internal struct GradientQuad<T> where T : unmanaged
{
    public PreNormInputs<T> Inputs;

    /// <summary>dy and γ as stored.</summary>
    public Elements4<T> GradOutput, Weight;

    public Float4 Sum, Gamma, Beta, Bias;

    /// <summary>The features dropout kept (<see cref="PreNormQuad.Kept"/>).</summary>
    public int Kept;
}
