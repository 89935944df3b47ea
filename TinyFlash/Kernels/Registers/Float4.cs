using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace TinyFlash.Kernels.Registers;

/// <summary>
/// Four floats held in registers. Shared-memory tiles are viewed as <see cref="Float4"/> so that one load or
/// store moves 16 bytes; the fields are plain so ILGPU keeps them in registers (no per-thread arrays).
/// </summary>
internal struct Float4
{
    public float X, Y, Z, W;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Float4(float x, float y, float z, float w)
    {
        X = x;
        Y = y;
        Z = z;
        W = w;
    }

    /// <summary>All four lanes set to <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float4 Broadcast(float value) => new(value, value, value, value);

    /// <summary>This + <paramref name="a"/>·<paramref name="b"/>, lane by lane with a scalar <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 MultiplyAdd(float a, Float4 b) =>
        new(X + a * b.X, Y + a * b.Y, Z + a * b.Z, W + a * b.W);

    /// <summary>This·<paramref name="factors"/> + <paramref name="addend"/>, lane by lane (one fused multiply-add a lane on CUDA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 TimesPlus(Float4 factors, Float4 addend) =>
        new(X * factors.X + addend.X, Y * factors.Y + addend.Y, Z * factors.Z + addend.Z, W * factors.W + addend.W);

    /// <summary>Lane-wise product.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Multiply(Float4 b) => new(X * b.X, Y * b.Y, Z * b.Z, W * b.W);

    /// <summary>Every lane times <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Multiply(float a) => new(X * a, Y * a, Z * a, W * a);

    /// <summary>The dot product: Σ lane·lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float Dot(Float4 b) => X * b.X + Y * b.Y + Z * b.Z + W * b.W;

    /// <summary>Lane-wise sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Add(Float4 b) => new(X + b.X, Y + b.Y, Z + b.Z, W + b.W);

    /// <summary>Lane-wise maximum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Max(Float4 b) =>
        new(XMath.Max(X, b.X), XMath.Max(Y, b.Y), XMath.Max(Z, b.Z), XMath.Max(W, b.W));

    /// <summary>Largest lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float MaxLane() => XMath.Max(XMath.Max(X, Y), XMath.Max(Z, W));

    /// <summary>Sum of the lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float SumLanes() => (X + Y) + (Z + W);

    /// <summary>Lane-wise <c>2^(this − offsets)</c>: <c>ex2</c> on PTX under fast math; <c>2^−∞ = 0</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Exp2Minus(Float4 offsets) =>
        new(XMath.Exp2(X - offsets.X), XMath.Exp2(Y - offsets.Y), XMath.Exp2(Z - offsets.Z), XMath.Exp2(W - offsets.W));

    /// <summary>Lane-wise <c>2^(this − offset)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Float4 Exp2Minus(float offset) => Exp2Minus(Broadcast(offset));

    /// <summary>Whether every lane equals one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool AllOne() => X == 1f & Y == 1f & Z == 1f & W == 1f;
}
