namespace TinyFlash.Tests.Numerics;

public class BFloat16Tests
{
    [Test]
    public void Every_bfloat16_pattern_round_trips_through_float()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            var value = BFloat16.FromBits((ushort)bits);
            var back = (BFloat16)(float)value;
            Assert.That(back.Bits, Is.EqualTo(value.IsNaN ? back.Bits : (ushort)bits), $"0x{bits:X4}");
            Assert.That(back.IsNaN, Is.EqualTo(value.IsNaN));
        }
    }

    [TestCase(1.0f, (ushort)0x3F80)]
    [TestCase(3.14159265f, (ushort)0x4049)]         // 3.140625: the nearest bfloat16
    [TestCase(1.00390625f, (ushort)0x3F80)]         // exactly halfway between 1 and 1.0078125: ties to even (down)
    [TestCase(1.01171875f, (ushort)0x3F82)]         // halfway between 1.0078125 and 1.015625: ties to even (up)
    [TestCase(-2.5e-39f, (ushort)0x801B)]           // subnormal, kept
    [TestCase(3.4028235e38f, (ushort)0x7F80)]       // float.MaxValue rounds up to infinity
    [TestCase(float.NegativeInfinity, (ushort)0xFF80)]
    public void Narrowing_rounds_to_nearest_even(float value, ushort bits) =>
        Assert.That(((BFloat16)value).Bits, Is.EqualTo(bits));

    [Test]
    public void NaN_stays_a_quiet_NaN_and_compares_unequal()
    {
        var nan = (BFloat16)float.NaN;
        var other = BFloat16.FromBits(nan.Bits);
        Assert.That(nan.IsNaN);
        Assert.That(float.IsNaN((float)nan));
        Assert.That(nan == other, Is.False);
    }

    [Test]
    public void Equality_and_order_follow_float()
    {
        Assert.That((BFloat16)0f, Is.EqualTo((BFloat16)(-0f)));
        Assert.That(((BFloat16)1f).CompareTo((BFloat16)2f), Is.Negative);
        Assert.That(((BFloat16)2.5f).ToString(), Is.EqualTo("2.5"));
    }
}
