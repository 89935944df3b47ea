using TinyFlash.Kernels.Backward;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The argument of the tensor-core backward launch: the backward parameters (16-bit storage) and the device addresses
/// of the tensors <c>cp.async</c> reads, each 16-byte aligned (the host checks it), and of the fp32 dq accumulator the
/// key-block pass adds into by vector reductions (0 when the dq pass is the deterministic one).
/// </summary>
internal struct TensorCoreBackwardParams
{
    public BackwardParams<ushort> Backward;

    public ulong QueryAddress, KeyAddress, ValueAddress, GradOutputAddress, GradQueryAccumulatorAddress;
}
