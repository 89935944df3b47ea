using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// One fp32 value for each query row a lane touches: rows g, g + 8 of the warp's first 16-row tile
/// (<see cref="R0"/>, <see cref="R1"/>) and of its second (<see cref="R2"/>, <see cref="R3"/>; unused, and
/// removed by the compiler, when a warp owns one tile). The four lanes of a quad share their rows.
/// </summary>
internal struct RowValues
{
    public float R0, R1, R2, R3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowValues(float r0, float r1, float r2, float r3)
    {
        R0 = r0;
        R1 = r1;
        R2 = r2;
        R3 = r3;
    }

    public static RowValues Broadcast(float value) => new(value, value, value, value);

    public readonly RowValues Max(RowValues b) =>
        new(XMath.Max(R0, b.R0), XMath.Max(R1, b.R1), XMath.Max(R2, b.R2), XMath.Max(R3, b.R3));

    public readonly RowValues Multiply(RowValues b) => new(R0 * b.R0, R1 * b.R1, R2 * b.R2, R3 * b.R3);

    public readonly RowValues Multiply(float b) => new(R0 * b, R1 * b, R2 * b, R3 * b);

    /// <summary>2^(this·scale − offsets), element by element.</summary>
    public readonly RowValues Exp2(float scale, RowValues offsets) => new(
        XMath.Exp2(R0 * scale - offsets.R0), XMath.Exp2(R1 * scale - offsets.R1),
        XMath.Exp2(R2 * scale - offsets.R2), XMath.Exp2(R3 * scale - offsets.R3));

    public readonly bool SameAs(RowValues b) => R0 == b.R0 & R1 == b.R1 & R2 == b.R2 & R3 == b.R3;

    /// <summary>−∞ (a row that has seen no visible key) replaced by 0, so exponentials against it are 0, not NaN.</summary>
    public readonly RowValues FiniteOrZero() => new(
        R0 == float.NegativeInfinity ? 0f : R0, R1 == float.NegativeInfinity ? 0f : R1,
        R2 == float.NegativeInfinity ? 0f : R2, R3 == float.NegativeInfinity ? 0f : R3);

    /// <summary>1/x, or 0 for a row whose sum is 0 (it saw no key), so that its output is zeros.</summary>
    public readonly RowValues Reciprocal() => new(
        R0 > 0f ? 1f / R0 : 0f, R1 > 0f ? 1f / R1 : 0f, R2 > 0f ? 1f / R2 : 0f, R3 > 0f ? 1f / R3 : 0f);

    /// <summary>The maximum over the four lanes of the quad (which together hold a row's columns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly RowValues QuadMax()
    {
        var m = Max(Xor(1));
        return m.Max(m.Xor(2));
    }

    /// <summary>The sum over the four lanes of the quad.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly RowValues QuadSum()
    {
        var s = Add(Xor(1));
        return s.Add(s.Xor(2));
    }

    private readonly RowValues Add(RowValues b) => new(R0 + b.R0, R1 + b.R1, R2 + b.R2, R3 + b.R3);

    private readonly RowValues Xor(int mask) => new(
        Warp.ShuffleXor(R0, mask), Warp.ShuffleXor(R1, mask), Warp.ShuffleXor(R2, mask), Warp.ShuffleXor(R3, mask));
}
