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

    /// <summary>
    /// The norm's dropout stream as documented, written out from the generator: element e is half e mod 2 of word
    /// (e/2) mod 4 of counter (e/8, offset) under the seed, kept when that half over 2¹⁶ is at least p; about 1 − p of
    /// the elements are kept, and another offset draws another mask.
    /// </summary>
    [TestCase(0.1f, 1234UL, 5UL)]
    [TestCase(0.5f, 0xDEADBEEFCAFEUL, 1UL << 40)]
    public void The_norm_stream_is_the_documented_half_of_a_Philox_word(float p, ulong seed, ulong offset)
    {
        int kept = 0, differ = 0;
        const int count = 100_000;
        foreach (long element in Enumerable.Range(0, count).Select(i => i < count / 2 ? i : (1L << 35) + 3 * i))
        {
            long octet = element >> 3;
            var words = Philox.Generate((uint)octet, (uint)(octet >> 32), (uint)offset, (uint)(offset >> 32), (uint)seed, (uint)(seed >> 32));
            uint word = new[] { words.X, words.Y, words.Z, words.W }[(element >> 1) & 3];
            uint half = (element & 1) == 0 ? word & 0xFFFFu : word >> 16;
            bool keep = Philox.NormKeeps(seed, offset, element, p);
            Assert.That(keep, Is.EqualTo(half / 65536.0 >= p), $"element {element}");
            kept += keep ? 1 : 0;
            differ += keep != Philox.NormKeeps(seed, offset + 1, element, p) ? 1 : 0;
        }
        Assert.That(kept / (double)count, Is.EqualTo(1 - p).Within(0.01));
        Assert.That(differ, Is.GreaterThan(count / 20), "another offset is another stream");
    }

    /// <summary>A quad's kept bits, drawn in one call (aligned) or two (straddling octets), are its elements' own.</summary>
    [TestCase(0L)]
    [TestCase(4L)]
    [TestCase(5L)]
    [TestCase(7L)]
    [TestCase(8L)]
    [TestCase((1L << 34) - 2)]
    public void A_quad_s_kept_bits_are_its_elements_keep_decisions(long element)
    {
        const float p = 0.5f;
        int expected = Enumerable.Range(0, 4).Sum(i => Philox.NormKeeps(99, 3, element + i, p) ? 1 << i : 0);
        uint threshold = Philox.HalfThreshold(p);
        Assert.That(Philox.NormKeptBits(PhiloxKey.Of(99UL), 3, element, threshold, aligned: false), Is.EqualTo(expected));
        if (element % 4 == 0)
            Assert.That(Philox.NormKeptBits(PhiloxKey.Of(99UL), 3, element, threshold, aligned: true), Is.EqualTo(expected), "the aligned form of an aligned quad");
    }

    /// <summary>
    /// Attention dropout's stream as documented, written out from the generator: element (row, key) is half key mod 2 of
    /// word (key mod 32)/8 of counter (4·(key/32) + (key mod 8)/2, row, offset) under the seed, kept when that half over
    /// 2¹⁶ is at least p; so the eight keys 2t, 2t + 1, 2t + 8, …, 2t + 25 of a 32-key block share one call.
    /// </summary>
    [TestCase(0.1f, 42UL, 0UL)]
    [TestCase(0.5f, 0xDEADBEEFCAFEUL, 12345678901UL)]
    [TestCase(1.5e-5f, 7UL, 3UL)]
    [TestCase(0.99999f, 1UL, 1UL)]
    public void Attention_dropout_draws_a_16_bit_half_per_element_laid_out_for_mma_fragments(float p, ulong seed, ulong offset)
    {
        for (int row = 0; row < 37; row += 3)
            for (int key = 0; key < 200; key++)
            {
                var words = Philox.Generate((uint)(4 * (key / 32) + key % 8 / 2), (uint)row, (uint)offset, (uint)(offset >> 32), (uint)seed, (uint)(seed >> 32));
                uint word = new[] { words.X, words.Y, words.Z, words.W }[key % 32 / 8];
                uint half = key % 2 == 0 ? word & 0xFFFF : word >> 16;
                Assert.That(Philox.AttentionKeeps(seed, offset, row, key, p), Is.EqualTo(half / 65536.0 >= p), $"row {row}, key {key}");
            }
        // One call for the pair slot: every key of it reads the same four words.
        var slot = Philox.AttentionWords(PhiloxKey.Of(seed), offset, 5, 34);
        foreach (int key in new[] { 35, 42, 43, 50, 51, 58, 59 })
            Assert.That(Philox.AttentionWords(PhiloxKey.Of(seed), offset, 5, key), Is.EqualTo(slot));
    }

    /// <summary>The 16-bit threshold is exact at the halves on either side of it, and p = 0 keeps everything.</summary>
    [TestCase(0f)]
    [TestCase(1e-7f)]
    [TestCase(0.25f)]
    [TestCase(0.3333333f)]
    [TestCase(0.99999994f)]
    public void The_attention_keep_tests_are_the_half_word_uniform_tests(float p)
    {
        uint threshold = Philox.HalfThreshold(p);
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
