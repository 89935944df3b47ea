using ILGPU;
using TinyFlash.Kernels.Forward;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// The one argument of the backward kernels: the forward's parameters (q, k, v, the output O and its log-sum-exp,
/// lengths, strides, mask band, per-sequence data and score modifiers, dropout included) plus the gradients. The tile
/// is square: <see cref="AttentionParams{T}.Geometry"/> has BlockM = 4·ThreadsX query rows and as many keys.
/// </summary>
/// <typeparam name="T">Storage element: <see cref="float"/>, or <see cref="ushort"/> bits of fp16/bf16.</typeparam>
internal struct BackwardParams<T> where T : unmanaged
{
    /// <summary>The forward call's parameters; its <c>TileList</c> is the one for the launch (by query block or by key block).</summary>
    public AttentionParams<T> Attention;

    /// <summary>dO (the query's layout), and the gradients written: dQ (the query's layout), dK and dV (the key's).</summary>
    public ArrayView<T> GradOutput, GradQuery, GradKey, GradValue;

    /// <summary>D = rowsum(dO ∘ O) per query row, in the log-sum-exp's order.</summary>
    public ArrayView<float> Delta;

    /// <summary>dQ/scale in fp32, [row][feature] in the log-sum-exp's row order, summed atomically; empty in deterministic mode.</summary>
    public ArrayView<float> GradQueryAccumulator;

    /// <summary>Key blocks per (sequence, key/value head): the key-block grid is KeyBlocks · sequences · key/value heads.</summary>
    public int KeyBlocks;

    /// <summary>The softmax scale (dQ = scale·dS·K, dK = scale·dSᵀ·Q).</summary>
    public float Scale;
}
