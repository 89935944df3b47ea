using ILGPU;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The one argument of the fused normalisation kernels: tensors of Rows × Hidden elements (row-major), per-feature
/// vectors of Hidden, per-row statistics, and the dropout stream. An empty view is an output nobody asked for (sum,
/// mean, rstd). The kernels read their optional inputs unconditionally: the host gives an absent bias or β as a row of
/// zeros, and an absent residual as a row of zeros that every row reads (<see cref="ResidualPerRow"/> 0), so that no
/// quad's load is conditional (a conditional load of 16-bit elements had cost a byte-permute a half to merge with the
/// zeros: Nsight Compute on the H100, 2026-12-07, 12 % of the fp16 forward's instructions).
/// </summary>
internal struct NormParams<T> where T : unmanaged
{
    public ArrayView<T> X, Residual, Bias, Gamma, Beta, Output, Sum;

    /// <summary>Per-row mean (LayerNorm) and reciprocal standard deviation, fp32.</summary>
    public ArrayView<float> Mean, Rstd;

    public int Rows, Hidden;

    /// <summary>1: the residual has a row per row; 0: it is one row of zeros (no residual).</summary>
    public int ResidualPerRow;

    /// <summary>Device addresses of x and the residual, where the backward copies them with <c>cp.async</c> (CUDA).</summary>
    public ulong XAddress, ResidualAddress;

    /// <summary>1 for RMSNorm (no mean subtracted, no beta), 0 for LayerNorm.</summary>
    public int Rms;

    public float Epsilon;

    /// <summary>Dropout probability p (0: none) and 1/(1 − p).</summary>
    public float DropoutProbability, KeepScale;

    /// <summary>⌈p·2²⁴⌉·2⁸: an element is kept when its Philox word reaches it (<see cref="Numerics.Philox.Keeps"/>).</summary>
    public uint KeepThreshold;

    /// <summary>The Philox stream of the dropout mask: the seed's round keys and the counter offset.</summary>
    public Numerics.PhiloxKey Key;

    /// <summary>The counter offset of the dropout stream.</summary>
    public ulong Offset;

    /// <summary>
    /// 1 when every quad of every view starts at a multiple of four elements of a view aligned to four elements
    /// (hidden a multiple of 4, each tensor's address a multiple of 4·element size): whole quads are then one vector
    /// load or store.
    /// </summary>
    public int WholeQuads;
}
