using TinyFlash.Numerics;

namespace TinyFlash.Tests.Numerics;

/// <summary>Philox4x32-10 against the known-answer vectors published with Random123 (kat_vectors).</summary>
public class PhiloxTests
{
    [TestCase(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Philox4x32_10_matches_the_Random123_known_answers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1,
        uint x, uint y, uint z, uint w)
    {
        var words = Philox.Generate(c0, c1, c2, c3, k0, k1);
        Assert.That(new[] { words.X, words.Y, words.Z, words.W }, Is.EqualTo(new[] { x, y, z, w }));
    }

    [Test]
    public void Uniform_numbers_are_in_range_and_evenly_spread()
    {
        var histogram = new int[10];
        for (long i = 0; i < 100_000; i++)
        {
            float u = Philox.Uniform(seed: 1234, offset: 5, i);
            Assert.That(u, Is.GreaterThanOrEqualTo(0f).And.LessThan(1f));
            histogram[(int)(u * 10)]++;
        }
        Assert.That(histogram, Is.All.InRange(9_500, 10_500));
        Assert.That(Philox.Uniform(1234, 5, 17), Is.Not.EqualTo(Philox.Uniform(1234, 6, 17)), "another offset is another stream");
    }

    [TestCase(0L)]
    [TestCase(8L)]
    [TestCase(5L)]
    [TestCase(7L)]
    [TestCase((1L << 34) - 2)]
    public void Four_uniforms_at_once_are_the_four_single_ones(long index)
    {
        Philox.Uniforms(99, 3, index, out float u0, out float u1, out float u2, out float u3);
        Assert.That(new[] { u0, u1, u2, u3 }, Is.EqualTo(Enumerable.Range(0, 4).Select(i => Philox.Uniform(99, 3, index + i)).ToArray()));
    }
}
