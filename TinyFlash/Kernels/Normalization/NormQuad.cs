using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The registers of one quad in the norm forward: its fetched inputs, its pre-norm sums, and its γ and β as fetched
/// for the output. Each stored field is fetched in a pass over all the thread's quads before the pass that converts
/// it, so that the thread's loads are in flight together; a field is dead once converted, and costs registers only
/// between the two passes.
/// </summary>
internal struct NormQuad<T> where T : unmanaged
{
    public PreNormInputs<T> Inputs;

    public Elements4<T> Gamma, Beta;

    public Float4 Sum;
}
