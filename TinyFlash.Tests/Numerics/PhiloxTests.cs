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
    public void Four_element_words_at_once_are_the_four_single_uniforms(long index)
    {
        Philox.ElementWords(PhiloxKey.Of(99UL), 3, index, aligned: false, out uint w0, out uint w1, out uint w2, out uint w3);
        Assert.That(new[] { w0, w1, w2, w3 }.Select(Philox.ToUniform), Is.EqualTo(Enumerable.Range(0, 4).Select(i => Philox.Uniform(99, 3, index + i)).ToArray()));
        if (index % 4 != 0)
            return;
        Philox.ElementWords(PhiloxKey.Of(99UL), 3, index, aligned: true, out uint a0, out uint a1, out uint a2, out uint a3);
        Assert.That(new[] { a0, a1, a2, a3 }, Is.EqualTo(new[] { w0, w1, w2, w3 }), "the aligned form of an aligned index");
    }

    /// <summary>The integer dropout test equals the float one, at the words on either side of each threshold too.</summary>
    [TestCase(1e-7f)]
    [TestCase(0.1f)]
    [TestCase(0.5f)]
    [TestCase(0.3333333f)]
    [TestCase(0.99999994f)]
    public void The_integer_keep_test_is_the_uniform_test(float p)
    {
        uint threshold = Philox.KeepThreshold(p);
        var words = new List<uint> { 0u, uint.MaxValue };
        for (long near = (threshold >> 8) - 2L; near <= (threshold >> 8) + 2L; near++)
            if (near is >= 0 and < 1L << 24)
                words.AddRange([(uint)(near << 8), (uint)(near << 8) | 0xffu]);
        for (long i = 0; i < 10_000; i++)
            words.Add(Philox.Generate((uint)i, 0, 0, 0, 7, 9).X);
        Assert.That(words.Select(w => Philox.Keeps(w, threshold)), Is.EqualTo(words.Select(w => Philox.ToUniform(w) >= p)));
    }

    /// <summary>
    /// Attention dropout's stream as documented, written out from the generator: element (row r at sequence position i,
    /// key j) is half j mod 2 of word 2·((i mod 16) ≥ 8) + ((j mod 16) ≥ 8) of counter (4·(j/16) + (j mod 8)/2, top row,
    /// offset) under the seed, the top row r − 8 when (i mod 16) ≥ 8 and else r, kept when that half over 2¹⁶ is at least
    /// p; so the eight elements of rows i, i + 8 and keys 2t, 2t + 1, 2t + 8, 2t + 9 of a 16×16 tile share one call. Rows
    /// start at an offset (the row index of position 0) that is not a multiple of 16, as a later head's rows do.
    /// </summary>
    [TestCase(0.1f, 42UL, 0UL, 0)]
    [TestCase(0.5f, 0xDEADBEEFCAFEUL, 12345678901UL, 37)]
    [TestCase(1.5e-5f, 7UL, 3UL, 5)]
    [TestCase(0.99999f, 1UL, 1UL, 1000)]
    public void Attention_dropout_draws_a_16_bit_half_per_element_laid_out_for_mma_fragments(float p, ulong seed, ulong offset, int rowOfPosition0)
    {
        for (int position = 0; position < 40; position++)
            for (int key = 0; key < 100; key++)
            {
                int row = rowOfPosition0 + position, bottom = position % 16 >= 8 ? 1 : 0;
                var words = Philox.Generate((uint)(4 * (key / 16) + key % 8 / 2), (uint)(row - 8 * bottom), (uint)offset, (uint)(offset >> 32),
                    (uint)seed, (uint)(seed >> 32));
                uint word = new[] { words.X, words.Y, words.Z, words.W }[2 * bottom + key % 16 / 8];
                uint half = key % 2 == 0 ? word & 0xFFFF : word >> 16;
                Assert.That(Philox.AttentionKeeps(seed, offset, row, position, key, p), Is.EqualTo(half / 65536.0 >= p), $"position {position}, key {key}");
            }
        // One call for the pair slot of rows 5 and 13 (positions 5 and 13): every element of it reads the same words.
        var slot = Philox.AttentionWords(PhiloxKey.Of(seed), offset, rowOfPosition0 + 5, 34);
        foreach (int key in new[] { 35, 42, 43 })
            Assert.That(Philox.AttentionWords(PhiloxKey.Of(seed), offset, rowOfPosition0 + 5, key), Is.EqualTo(slot));
        Assert.That(Philox.AttentionPairTop(rowOfPosition0 + 13, 13), Is.EqualTo(rowOfPosition0 + 5));
        Assert.That(Philox.AttentionPairTop(rowOfPosition0 + 21, 21), Is.EqualTo(rowOfPosition0 + 21));
    }

    /// <summary>The 16-bit threshold is exact at the halves on either side of it, and p = 0 keeps everything.</summary>
    [TestCase(0f)]
    [TestCase(1e-7f)]
    [TestCase(0.25f)]
    [TestCase(0.3333333f)]
    [TestCase(0.99999994f)]
    public void The_attention_keep_tests_are_the_half_word_uniform_tests(float p)
    {
        uint threshold = Philox.AttentionThreshold(p);
        for (long near = threshold - 2L; near <= threshold + 2L; near++)
        {
            if (near is < 0 or > 0xFFFF)
                continue;
            uint h = (uint)near;
            Assert.That(Philox.KeepsLow(0xABCD0000u | h, threshold), Is.EqualTo(h / 65536.0 >= p), $"low {h}");
            Assert.That(Philox.KeepsHigh((h << 16) | 0x1234u, threshold), Is.EqualTo(h / 65536.0 >= p), $"high {h}");
        }
        Assert.That(Philox.KeepsLow(0xFFFF0000u, threshold), Is.EqualTo(p == 0f), "a low half of 0");
        Assert.That(Philox.KeepsHigh(0xFFFFFFFFu, threshold), Is.EqualTo(0xFFFF / 65536.0 >= p), "a high half of 0xFFFF");
    }
}
