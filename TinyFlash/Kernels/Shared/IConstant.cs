namespace TinyFlash.Kernels.Shared;

/// <summary>
/// An integer known when a kernel is compiled, carried by a struct type: the value of <see cref="Value"/> folds to a
/// constant after inlining, where ILGPU needs one (the size of a static shared allocation). Built in binary by
/// <see cref="Zero"/>, <see cref="Twice{T}"/> and <see cref="TwicePlusOne{T}"/>.
/// </summary>
internal interface IConstant
{
    /// <summary>The value.</summary>
    int Value { get; }
}

/// <summary>The constant 0.</summary>
internal readonly struct Zero : IConstant
{
    /// <inheritdoc/>
    public int Value => 0;
}

/// <summary>The constant 2·<typeparamref name="T"/>.</summary>
internal readonly struct Twice<T> : IConstant where T : struct, IConstant
{
    /// <inheritdoc/>
    public int Value => 2 * default(T).Value;
}

/// <summary>The constant 2·<typeparamref name="T"/> + 1.</summary>
internal readonly struct TwicePlusOne<T> : IConstant where T : struct, IConstant
{
    /// <inheritdoc/>
    public int Value => 2 * default(T).Value + 1;
}
