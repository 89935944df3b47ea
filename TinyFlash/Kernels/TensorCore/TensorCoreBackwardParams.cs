using TinyFlash.Kernels.Backward;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The argument of the tensor-core backward launch: the backward parameters (16-bit storage) and the device addresses
/// of the tensors <c>cp.async</c> reads, each 16-byte aligned (the host checks it).
/// </summary>
internal struct TensorCoreBackwardParams
{
    public BackwardParams<ushort> Backward;

    public ulong QueryAddress, KeyAddress, ValueAddress, GradOutputAddress;
}
