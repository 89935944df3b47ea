using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Reference;
using TinyFlash.Tests.Support;
using Half = System.Half;

namespace TinyFlash.Tests.Rotary;

/// <summary>
/// Rotary embeddings fused with the QKV split, against the double reference: both pair conventions, both layouts,
/// GQA, every dtype, position offsets and a folded query scale, on every CPU backend; v copied bit for bit; position 0
/// left unturned; bad layouts refused by name.
/// </summary>
public class RotaryQkvSplitTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        var types = Enum.GetValues<ElementType>();
        int t = 0;
        foreach (var style in Enum.GetValues<RotaryStyle>())
            foreach (var layout in Enum.GetValues<AttentionLayout>())
                foreach (int d in new[] { 32, 128, 80 })
                {
                    var type = types[t++ % types.Length];
                    yield return new TestCaseData(style, layout, d, type).SetName($"Rotary {style}, {layout}, d = {d}, {type}");
                }
    }

    [TestCaseSource(nameof(Cases))]
    public void The_split_and_rotation_match_the_reference_on_every_CPU_backend(RotaryStyle style, AttentionLayout layout, int d, ElementType type)
    {
        var shape = new AttentionShape(2, 4, 2, 13, 13, d, layout);
        var options = new RotaryOptions { Style = style, Base = 10000f, QueryScale = 0.125f, PositionOffsets = [0, 700] };
        var qkv = RandomTensors.Normal(2L * 13 * 8 * d, 17, NaiveAttention.RoundingOf(type));
        var expected = RotaryReference.Compute(qkv, shape, options);
        double tolerance = type switch { ElementType.Float32 => 5e-4, ElementType.Float16 => 4e-3, _ => 3e-2 };
        foreach (var backend in TestBackend.Cpu)
        {
            var (q, k, v) = Run(backend.Engine, type, qkv, shape, options);
            Assert.That(MaxError(q, expected.Q), Is.LessThan(tolerance), $"{backend}: q");
            Assert.That(MaxError(k, expected.K), Is.LessThan(tolerance), $"{backend}: k");
            Assert.That(MaxError(v, expected.V), Is.Zero, $"{backend}: v is copied exactly");
        }
    }

    [Test]
    public void Position_zero_is_not_turned()
    {
        var shape = new AttentionShape(1, 2, 1, 1, 1, 64);
        var qkv = RandomTensors.Normal(4 * 64, 5, x => x);
        var (q, k, v) = TestBackend.Cpu.First().Engine.RotaryQkvSplit(qkv, shape);
        Assert.That(q, Is.EqualTo(qkv[..128]));
        Assert.That(k, Is.EqualTo(qkv[128..192]));
        Assert.That(v, Is.EqualTo(qkv[192..]));
    }

    [TestCase(RotaryStyle.HalfSplit)]
    [TestCase(RotaryStyle.Interleaved)]
    public void A_projection_view_that_does_not_start_on_a_quad_gives_the_same_result_as_an_aligned_one(RotaryStyle style)
    {
        // Quads move as vectors only when every view is aligned to four elements; a projection one element in takes
        // the element-by-element path and must agree with the aligned call bit for bit.
        var engine = TestBackend.Cpu.First().Engine;
        var shape = new AttentionShape(1, 2, 1, 3, 3, 32);
        var options = new RotaryOptions { Style = style, QueryScale = 0.5f };
        float[] values = RandomTensors.Normal(3 * 4 * 32 + 1, 9, x => x);
        using var shifted = engine.Accelerator.Allocate1D(values);
        using var aligned = engine.Accelerator.Allocate1D(values[1..]);
        using var q = engine.Accelerator.Allocate1D<float>(2 * shape.QueryElements);
        using var k = engine.Accelerator.Allocate1D<float>(2 * shape.KeyValueElements);
        using var v = engine.Accelerator.Allocate1D<float>(2 * shape.KeyValueElements);
        ArrayView1D<float, Stride1D.Dense> Part(MemoryBuffer1D<float, Stride1D.Dense> buffer, int which) =>
            buffer.View.SubView(which * buffer.Length / 2, buffer.Length / 2);
        engine.RotaryQkvSplit<float>(shifted.View.SubView(1, values.Length - 1), Part(q, 0), Part(k, 0), Part(v, 0), shape, options);
        engine.RotaryQkvSplit<float>(aligned.View, Part(q, 1), Part(k, 1), Part(v, 1), shape, options);
        foreach (var buffer in new[] { q, k, v })
        {
            float[] both = buffer.GetAsArray1D();
            Assert.That(both[..(both.Length / 2)], Is.EqualTo(both[(both.Length / 2)..]));
        }
        var expected = RotaryReference.Compute(values[1..], shape, options);
        Assert.That(MaxError(Part(q, 0).GetAsArray1D<float>(), expected.Q), Is.LessThan(5e-4), "and both match the reference");
    }

    private static IEnumerable<TestCaseData> BadInputs()
    {
        var shape = new AttentionShape(1, 4, 2, 5, 5, 32);
        yield return Case(shape, 5 * 7 * 32, RotaryOptions.Default, "(QueryHeads + 2·KeyValueHeads)·HeadDim = (4 + 2·2)·32 = 256");
        yield return Case(shape with { KeyLength = 6 }, 5 * 8 * 32, RotaryOptions.Default, "differ");
        yield return Case(shape, 5 * 8 * 32, new RotaryOptions { Base = 0f }, "options.Base must be finite and positive");
        yield return Case(shape, 5 * 8 * 32, new RotaryOptions { QueryScale = float.NaN }, "options.QueryScale must be finite and positive");
        yield return Case(shape, 5 * 8 * 32, new RotaryOptions { PositionOffsets = [1, 2] }, "options.PositionOffsets has 2 entries");
        yield return Case(shape, 5 * 8 * 32, new RotaryOptions { PositionOffsets = [-1] }, "options.PositionOffsets[0] is -1");

        static TestCaseData Case(AttentionShape shape, int length, RotaryOptions options, string expects) =>
            new TestCaseData(shape, length, options, expects).SetName($"A bad rotary call is refused ({expects})");
    }

    [TestCaseSource(nameof(BadInputs))]
    public void Bad_input_is_refused_naming_the_argument(AttentionShape shape, int length, RotaryOptions options, string expects)
    {
        var engine = TestBackend.Cpu.First().Engine;
        var error = (ArgumentException)Assert.Throws(Is.InstanceOf<ArgumentException>(), () => engine.RotaryQkvSplit(new float[length], shape, options))!;
        Assert.That(error.Message, Does.Contain(expects));
        Inputs.AssertEngineWorks(engine);
    }

    private static double MaxError(float[] actual, double[] expected) =>
        actual.Select((a, i) => Math.Abs(a - expected[i]) / Math.Max(1, Math.Abs(expected[i]))).Max();

    private static (float[] Q, float[] K, float[] V) Run(FlashEngine engine, ElementType type, float[] qkv, AttentionShape shape, RotaryOptions options)
    {
        switch (type)
        {
            case ElementType.Float32:
                return engine.RotaryQkvSplit(qkv, shape, options);
            case ElementType.Float16:
                var h = engine.RotaryQkvSplit(Array.ConvertAll(qkv, x => (Half)x), shape, options);
                return (Array.ConvertAll(h.Q, x => (float)x), Array.ConvertAll(h.K, x => (float)x), Array.ConvertAll(h.V, x => (float)x));
            default:
                var b = engine.RotaryQkvSplit(Array.ConvertAll(qkv, x => (BFloat16)x), shape, options);
                return (Array.ConvertAll(b.Q, x => (float)x), Array.ConvertAll(b.K, x => (float)x), Array.ConvertAll(b.V, x => (float)x));
        }
    }
}
