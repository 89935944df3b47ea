using System.Globalization;
using System.Runtime.InteropServices;

namespace TinyFlash;

/// <summary>
/// A 16-bit brain float: the sign, 8 exponent bits and top 7 mantissa bits of a <see cref="float"/>.
/// Same range as float, about three significant decimal digits. Conversion from float rounds to nearest even.
/// </summary>
/// <example>
/// <code>
/// BFloat16 x = (BFloat16)3.14159f;   // rounds to 3.140625
/// float y = (float)x;
/// </code>
/// </example>
[StructLayout(LayoutKind.Sequential, Size = 2)]
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>
{
    private readonly ushort bits;

    private BFloat16(ushort bits) => this.bits = bits;

    /// <summary>The raw 16 bits.</summary>
    public ushort Bits => bits;

    /// <summary>Reinterprets 16 raw bits as a bfloat16.</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Whether this value is not a number.</summary>
    public bool IsNaN => (bits & 0x7FFF) > 0x7F80;

    /// <summary>Rounds a float to the nearest bfloat16 (ties to even).</summary>
    public static explicit operator BFloat16(float value) => new(Numerics.BFloat16Bits.FromFloat(value));

    /// <summary>Widens a bfloat16 to float (exact).</summary>
    public static explicit operator float(BFloat16 value) => Numerics.BFloat16Bits.ToFloat(value.bits);

    /// <summary>Widens a bfloat16 to double (exact).</summary>
    public static explicit operator double(BFloat16 value) => (float)value;

    /// <summary>Value equality as float: NaN equals nothing, +0 equals -0.</summary>
    public bool Equals(BFloat16 other) => (float)this == (float)other;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => ((float)this).GetHashCode();

    /// <summary>Orders as float; NaN first, as <see cref="float.CompareTo(float)"/> does.</summary>
    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);

    /// <summary>Value equality as float.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => left.Equals(right);

    /// <summary>Value inequality as float.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => !left.Equals(right);

    /// <summary>The value as float, formatted with the invariant culture.</summary>
    public override string ToString() => ((float)this).ToString(CultureInfo.InvariantCulture);
}
