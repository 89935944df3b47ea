using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Forward;

/// <summary>Scores as Q·Kᵀ gives them and no dropout: the plain kernel.</summary>
internal readonly struct NoScoreModifier : IScoreModifier<NoScoreModifier>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NoScoreModifier For<T>(in AttentionParams<T> p, in QueryBlock block, float toLogit) where T : unmanaged => default;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NoScoreModifier ForTile(bool masked) => default;

    /// <inheritdoc/>
    public bool IsIdentity => true;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Apply(float score, int row, int key) => score;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Slope(float score) => 1f;

    /// <inheritdoc/>
    public bool Drops => false;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Numerics.Philox DropoutWords(int rowIndex, int key) => default;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint KeptBytes(uint word) => 0x80808080u;

    /// <inheritdoc/>
    public float KeepScale => 1f;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float KeepFactor(uint kept) => 1f;
}
