using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Forward;

namespace TinyFlash.Kernels.Registers;

/// <summary>
/// A 4×4 block of floats held by one thread: rows <see cref="R0"/>..<see cref="R3"/> are four consecutive
/// query rows, lanes are four consecutive columns (keys for a score tile, features for an output chunk).
/// </summary>
internal struct Tile4x4
{
    public Float4 R0, R1, R2, R3;

    /// <summary>Adds the outer product <paramref name="rows"/> ⊗ <paramref name="columns"/> (16 FMAs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddOuterProduct(Float4 rows, Float4 columns)
    {
        R0 = R0.MultiplyAdd(rows.X, columns);
        R1 = R1.MultiplyAdd(rows.Y, columns);
        R2 = R2.MultiplyAdd(rows.Z, columns);
        R3 = R3.MultiplyAdd(rows.W, columns);
    }

    /// <summary>Multiplies row <c>i</c> by lane <c>i</c> of <paramref name="factors"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(Float4 factors)
    {
        R0 = R0.Multiply(factors.X);
        R1 = R1.Multiply(factors.Y);
        R2 = R2.Multiply(factors.Z);
        R3 = R3.Multiply(factors.W);
    }

    /// <summary>Each element through <paramref name="modifier"/>; element (0, 0) is query <paramref name="row"/>, key <paramref name="key"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Modify<TModifier>(TModifier modifier, int row, int key) where TModifier : struct, IScoreModifier
    {
        R0 = Modify(modifier, R0, row, key);
        R1 = Modify(modifier, R1, row + 1, key);
        R2 = Modify(modifier, R2, row + 2, key);
        R3 = Modify(modifier, R3, row + 3, key);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Float4 Modify<TModifier>(TModifier modifier, Float4 scores, int row, int key) where TModifier : struct, IScoreModifier =>
        new(modifier.Apply(scores.X, row, key), modifier.Apply(scores.Y, row, key + 1),
            modifier.Apply(scores.Z, row, key + 2), modifier.Apply(scores.W, row, key + 3));

    /// <summary>The maximum of each row, as the lanes of one <see cref="Float4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 RowMax() => new(R0.MaxLane(), R1.MaxLane(), R2.MaxLane(), R3.MaxLane());

    /// <summary>The sum of each row, as the lanes of one <see cref="Float4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 RowSum() => new(R0.SumLanes(), R1.SumLanes(), R2.SumLanes(), R3.SumLanes());

    /// <summary>Replaces every element <c>x</c> of row <c>i</c> by <c>2^(x - rowOffsets[i])</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exp2Subtract(Float4 rowOffsets)
    {
        R0 = R0.Exp2Minus(rowOffsets.X);
        R1 = R1.Exp2Minus(rowOffsets.Y);
        R2 = R2.Exp2Minus(rowOffsets.Z);
        R3 = R3.Exp2Minus(rowOffsets.W);
    }

    /// <summary>Column <c>c</c> (0..3) as a <see cref="Float4"/> of the four rows: the transposed store of a tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Column0() => new(R0.X, R1.X, R2.X, R3.X);

    /// <inheritdoc cref="Column0"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Column1() => new(R0.Y, R1.Y, R2.Y, R3.Y);

    /// <inheritdoc cref="Column0"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Column2() => new(R0.Z, R1.Z, R2.Z, R3.Z);

    /// <inheritdoc cref="Column0"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Column3() => new(R0.W, R1.W, R2.W, R3.W);
}
