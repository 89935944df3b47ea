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

    /// <summary>
    /// Multiplies row <c>i</c> by the dropout keep factors of query row <paramref name="rowIndex"/> + i, at position
    /// <paramref name="position"/> + i of the sequence, and keys <paramref name="key"/> … <paramref name="key"/> + 3 of the
    /// sequence (<paramref name="position"/> and <paramref name="key"/> multiples of 4).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Drop<TModifier>(TModifier modifier, int rowIndex, int position, int key) where TModifier : struct, IScoreModifier
    {
        int top = Numerics.Philox.AttentionPairTop(rowIndex, position);
        R0 = R0.Multiply(KeepFactors(modifier, top, position, key));
        R1 = R1.Multiply(KeepFactors(modifier, top + 1, position, key));
        R2 = R2.Multiply(KeepFactors(modifier, top + 2, position, key));
        R3 = R3.Multiply(KeepFactors(modifier, top + 3, position, key));
    }

    /// <summary>
    /// The keep factors of keys <paramref name="key"/> … + 3 of one row, whose pair's top row is <paramref name="top"/>
    /// and which sits in the same half of 16 positions as <paramref name="position"/>: the four bytes of one word of the
    /// stream (<see cref="Numerics.Philox.AttentionWords"/>), one generator call with one word used.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Float4 KeepFactors<TModifier>(TModifier modifier, int top, int position, int key) where TModifier : struct, IScoreModifier
    {
        uint kept = modifier.KeptBytes(Numerics.Philox.AttentionWord(modifier.DropoutWords(top, key), position, key));
        return new Float4(modifier.KeepFactor(kept >> 7), modifier.KeepFactor(kept >> 15), modifier.KeepFactor(kept >> 23), modifier.KeepFactor(kept >> 31));
    }

    /// <summary>Each element's <see cref="IScoreModifier.Slope"/>: the derivative of the modified score by the raw one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Tile4x4 Slopes<TModifier>(TModifier modifier) where TModifier : struct, IScoreModifier => new()
    {
        R0 = new(modifier.Slope(R0.X), modifier.Slope(R0.Y), modifier.Slope(R0.Z), modifier.Slope(R0.W)),
        R1 = new(modifier.Slope(R1.X), modifier.Slope(R1.Y), modifier.Slope(R1.Z), modifier.Slope(R1.W)),
        R2 = new(modifier.Slope(R2.X), modifier.Slope(R2.Y), modifier.Slope(R2.Z), modifier.Slope(R2.W)),
        R3 = new(modifier.Slope(R3.X), modifier.Slope(R3.Y), modifier.Slope(R3.Z), modifier.Slope(R3.W)),
    };

    /// <summary>The element-wise product with <paramref name="other"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Tile4x4 Multiply(Tile4x4 other) => new()
    {
        R0 = R0.Multiply(other.R0),
        R1 = R1.Multiply(other.R1),
        R2 = R2.Multiply(other.R2),
        R3 = R3.Multiply(other.R3),
    };

    /// <summary>Every element times <paramref name="factor"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Tile4x4 Multiply(float factor) => new()
    {
        R0 = R0.Multiply(factor),
        R1 = R1.Multiply(factor),
        R2 = R2.Multiply(factor),
        R3 = R3.Multiply(factor),
    };

    /// <summary>Row <c>i</c> minus lane <c>i</c> of <paramref name="rowValues"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Tile4x4 SubtractRows(Float4 rowValues) => new()
    {
        R0 = R0.Add(Float4.Broadcast(-rowValues.X)),
        R1 = R1.Add(Float4.Broadcast(-rowValues.Y)),
        R2 = R2.Add(Float4.Broadcast(-rowValues.Z)),
        R3 = R3.Add(Float4.Broadcast(-rowValues.W)),
    };

    /// <summary>
    /// Adds the 16 dot products of rows <paramref name="a0"/>…<paramref name="a3"/> with columns
    /// <paramref name="b0"/>…<paramref name="b3"/> over four features: element (r, c) += a_r · b_c (64 FMAs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddDots(Float4 a0, Float4 a1, Float4 a2, Float4 a3, Float4 b0, Float4 b1, Float4 b2, Float4 b3)
    {
        R0 = R0.Add(new Float4(a0.Dot(b0), a0.Dot(b1), a0.Dot(b2), a0.Dot(b3)));
        R1 = R1.Add(new Float4(a1.Dot(b0), a1.Dot(b1), a1.Dot(b2), a1.Dot(b3)));
        R2 = R2.Add(new Float4(a2.Dot(b0), a2.Dot(b1), a2.Dot(b2), a2.Dot(b3)));
        R3 = R3.Add(new Float4(a3.Dot(b0), a3.Dot(b1), a3.Dot(b2), a3.Dot(b3)));
    }
}
