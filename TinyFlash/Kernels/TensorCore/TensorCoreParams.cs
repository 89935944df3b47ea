using TinyFlash.Kernels.Forward;

namespace TinyFlash.Kernels.TensorCore;

/// <summary>
/// The argument of a tensor-core launch: the forward parameters (16-bit storage) and the device addresses of the
/// inputs, which <c>cp.async</c> needs (ILGPU cannot take a view's address inside a kernel). Each address is
/// 16-byte aligned; the host checks it.
/// </summary>
internal struct TensorCoreParams
{
    public AttentionParams<ushort> Attention;

    public ulong QueryAddress, KeyAddress, ValueAddress;
}
