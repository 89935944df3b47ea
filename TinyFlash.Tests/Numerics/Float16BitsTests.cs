using TinyFlash.Kernels.Elements;
using TinyFlash.Numerics;
using Half = System.Half;

namespace TinyFlash.Tests.Numerics;

/// <summary>The kernels' portable fp16 conversions agree bit for bit with .NET's <see cref="Half"/>.</summary>
public class Float16BitsTests
{
    [Test]
    public void Every_fp16_pattern_widens_exactly()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = Float16Bits.ToFloat((ushort)bits);
            if (float.IsNaN(expected))
                Assert.That(float.IsNaN(actual), $"0x{bits:X4} is NaN");
            else
                Assert.That(BitConverter.SingleToUInt32Bits(actual), Is.EqualTo(BitConverter.SingleToUInt32Bits(expected)), $"0x{bits:X4}");
        }
    }

    [Test]
    public void Narrowing_rounds_to_nearest_even_like_dotnet_on_random_and_edge_floats()
    {
        var random = new Random(1);
        var edges = new[] { 0f, -0f, 65504f, 65519.99f, 65520f, -65520f, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f,
            1.0009766f, 1.0004883f, float.Epsilon, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN };
        foreach (float value in edges.Concat(Enumerable.Range(0, 1_000_000).Select(_ => BitConverter.UInt32BitsToSingle((uint)random.NextInt64(1L << 32)))))
        {
            ushort expected = BitConverter.HalfToUInt16Bits((Half)value);
            ushort actual = Float16Bits.FromFloat(value);
            if (float.IsNaN(value))
                Assert.That(Half.IsNaN(BitConverter.UInt16BitsToHalf(actual)), $"{value} stays NaN");
            else
                Assert.That(actual, Is.EqualTo(expected), $"{value:R}");
        }
    }

    [Test]
    public void The_native_codec_widens_exactly_and_narrows_within_one_ulp_when_emulated()
    {
        // On PTX this codec is the hardware cvt (round to nearest even; checked end to end by `verify` on the GPU).
        // Off the GPU it runs ILGPU's software Half, whose narrowing is sometimes one ulp off; it is never used there.
        var codec = default(Float16NativeCodec);
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = codec.ToFloat((ushort)bits);
            Assert.That(float.IsNaN(expected) ? float.IsNaN(actual) : actual.Equals(expected), $"0x{bits:X4}");
        }
        var random = new Random(2);
        for (int i = 0; i < 200_000; i++)
        {
            float value = (float)(random.NextDouble() * 140_000 - 70_000) * MathF.Pow(2, -random.Next(0, 30));
            int expected = BitConverter.HalfToUInt16Bits((Half)value);
            Assert.That(Math.Abs(codec.FromFloat(value) - expected), Is.LessThanOrEqualTo(1), $"{value:R}");
        }
    }
}
