using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// <typeparamref name="TModifier"/> for a transposed score tile, whose rows are keys and columns queries (the tensor-core
/// backward's Sᵀ): every (row, key) it is asked about is (key, query) to the inner modifier.
/// </summary>
internal readonly struct TransposedScoreModifier<TModifier>(TModifier inner) : IScoreModifier where TModifier : struct, IScoreModifier
{
    private readonly TModifier inner = inner;

    /// <inheritdoc/>
    public bool IsIdentity => inner.IsIdentity;

    /// <inheritdoc/>
    public bool Drops => inner.Drops;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Apply(float score, int row, int key) => inner.Apply(score, key, row);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Slope(float score) => inner.Slope(score);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Numerics.Philox DropoutWords(int rowIndex, int key) => inner.DropoutWords(rowIndex, key);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint KeptBytes(uint word) => inner.KeptBytes(word);

    /// <inheritdoc/>
    public float KeepScale => inner.KeepScale;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float KeepFactor(uint kept) => inner.KeepFactor(kept);
}
