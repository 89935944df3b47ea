namespace TinyFlash.Kernels.Elements;

/// <summary>
/// How a kernel reads and writes one storage element: math is always fp32, storage is <typeparamref name="T"/>.
/// Implementations are empty structs used as type parameters, so the conversion is inlined into the kernel.
/// </summary>
/// <typeparam name="T">The storage type in device memory.</typeparam>
internal interface IElementCodec<T> where T : unmanaged
{
    /// <summary>Widens a stored element to float.</summary>
    float ToFloat(T value);

    /// <summary>Rounds a float to the storage type (to nearest even).</summary>
    T FromFloat(float value);
}
