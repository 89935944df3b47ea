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
    /// key j) is byte j mod 4 of word 2·((i mod 16) ≥ 8) + ((j mod 16) ≥ 8) of counter (2·(j/16) + (j mod 8)/4, top row,
    /// offset) under the seed, the top row r − 8 when (i mod 16) ≥ 8 and else r, kept when that byte is at least
    /// ⌈256·p⌉; so the 16 elements of rows i, i + 8 and keys 4u … 4u + 3, 4u + 8 … 4u + 11 of a 16×16 tile (what two
    /// neighbouring lanes of an mma fragment hold) share one call. Rows start at an offset (the row index of position
    /// 0) that is not a multiple of 16, as a later head's rows do.
    /// </summary>
    [TestCase(0.1f, 42UL, 0UL, 0)]
    [TestCase(0.5f, 0xDEADBEEFCAFEUL, 12345678901UL, 37)]
    [TestCase(1.5e-5f, 7UL, 3UL, 5)]
    [TestCase(0.99f, 1UL, 1UL, 1000)]
    public void Attention_dropout_draws_a_byte_per_element_laid_out_for_mma_fragments(float p, ulong seed, ulong offset, int rowOfPosition0)
    {
        int kept = 0, all = 0;
        for (int position = 0; position < 40; position++)
            for (int key = 0; key < 100; key++)
            {
                int row = rowOfPosition0 + position, bottom = position % 16 >= 8 ? 1 : 0;
                var words = Philox.Generate((uint)(2 * (key / 16) + key % 8 / 4), (uint)(row - 8 * bottom), (uint)offset, (uint)(offset >> 32),
                    (uint)seed, (uint)(seed >> 32));
                uint word = new[] { words.X, words.Y, words.Z, words.W }[2 * bottom + key % 16 / 8];
                uint b = (word >> (8 * (key % 4))) & 0xFF;
                bool keeps = b >= Math.Ceiling(256 * (double)p);
                Assert.That(Philox.AttentionKeeps(seed, offset, row, position, key, p), Is.EqualTo(keeps), $"position {position}, key {key}");
                kept += keeps ? 1 : 0;
                all++;
            }
        Assert.That(kept / (double)all, Is.EqualTo(1 - Philox.AttentionDropProbability(p)).Within(0.03), "the kept fraction");
        // One call for rows 5 and 13 (positions 5 and 13) and keys 36 … 39, 44 … 47: every element of it reads the same words.
        var call = Philox.AttentionWords(PhiloxKey.Of(seed), offset, rowOfPosition0 + 5, 36);
        foreach (int key in new[] { 37, 39, 44, 47 })
            Assert.That(Philox.AttentionWords(PhiloxKey.Of(seed), offset, rowOfPosition0 + 5, key), Is.EqualTo(call));
        Assert.That(Philox.AttentionWords(PhiloxKey.Of(seed), offset, rowOfPosition0 + 5, 35), Is.Not.EqualTo(call), "keys 32 … 35 are the other call");
        Assert.That(Philox.AttentionPairTop(rowOfPosition0 + 13, 13), Is.EqualTo(rowOfPosition0 + 5));
        Assert.That(Philox.AttentionPairTop(rowOfPosition0 + 21, 21), Is.EqualTo(rowOfPosition0 + 21));
    }

    /// <summary>
    /// The four-bytes-at-once comparison the kernels make (<see cref="Philox.AttentionKeptBytes"/>) is the byte by byte
    /// one, at every threshold, on words whose bytes sit on either side of it and on random words.
    /// </summary>
    [Test]
    public void Kept_bytes_four_at_once_are_the_bytes_compared_one_by_one()
    {
        var words = new List<uint>();
        for (long i = 0; i < 2_000; i++)
            words.Add(Philox.Generate((uint)i, 1, 2, 3, 4, 5).Y);
        for (uint threshold = 0; threshold < 256; threshold++)
        {
            var near = new[] { threshold, threshold - 1, threshold + 1, 0u, 127u, 128u, 255u }.Select(b => b & 0xFF).ToArray();
            foreach (uint b0 in near)
                foreach (uint b3 in near)
                    Check(b0 | (threshold & 0xFF) << 8 | ((threshold - 1) & 0xFF) << 16 | b3 << 24, threshold);
            foreach (uint word in words)
                Check(word, threshold);
        }

        static void Check(uint word, uint threshold)
        {
            uint expected = 0;
            for (int j = 0; j < 4; j++)
                expected |= ((word >> (8 * j)) & 0xFF) >= threshold ? 0x80u << (8 * j) : 0u;
            Assert.That(Philox.AttentionKeptBytes(word, threshold), Is.EqualTo(expected), $"word {word:X8}, threshold {threshold}");
        }
    }

    /// <summary>
    /// p applies at 2⁻⁸, rounded up: the stream drops with ⌈256·p⌉/256 and scales what it keeps by the reciprocal of
    /// what it keeps, so the mask's mean is 1; p = 0 keeps everything and p above 255/256 nothing.
    /// </summary>
    [TestCase(0f, 0u)]
    [TestCase(1e-7f, 1u)]
    [TestCase(0.1f, 26u)]
    [TestCase(0.25f, 64u)]
    [TestCase(0.99999994f, 256u)]
    public void The_attention_threshold_rounds_p_up_to_a_multiple_of_1_over_256(float p, uint threshold)
    {
        Assert.That(Philox.AttentionThreshold(p), Is.EqualTo(threshold));
        Assert.That(Philox.AttentionDropProbability(p), Is.EqualTo(threshold / 256.0));
        Assert.That(Philox.AttentionKeepScale(p), Is.EqualTo(threshold == 256 ? 0f : (float)(256.0 / (256 - threshold))));
    }
}
