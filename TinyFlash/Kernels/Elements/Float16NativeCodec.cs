using System.Runtime.CompilerServices;
using ILGPU;
using Half = ILGPU.Half;

namespace TinyFlash.Kernels.Elements;

/// <summary>
/// fp16 storage converted by ILGPU's <see cref="Half"/>: one <c>cvt</c> instruction each way on PTX. Only for
/// backends with native fp16 (CUDA): ILGPU refuses any kernel that mentions <see cref="Half"/> for an OpenCL
/// device without <c>cl_khr_fp16</c>, so the portable <see cref="Float16Codec"/> serves everywhere else.
/// </summary>
internal readonly struct Float16NativeCodec : IElementCodec<ushort>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ToFloat(ushort value) => Interop.IntAsFloat(value);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort FromFloat(float value) => Interop.FloatAsInt((Half)value);
}
