using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using TinyFlash.Tests.Support;

namespace TinyFlash.Tests.Attention;

/// <summary>
/// Every kind of bad input gets a typed exception whose message names the argument and what was expected, and the
/// engine computes correctly afterwards.
/// </summary>
public class BadInputTests
{
    private static readonly AttentionShape Good = new(1, 2, 1, 9, 13, 32);
    private static FlashEngine Engine => TestBackend.Cpu.First().Engine;

    [TearDown]
    public void The_engine_still_works() => Inputs.AssertEngineWorks(Engine);

    private static IEnumerable<TestCaseData> BadShapes()
    {
        yield return Case(Good with { Batch = 0 }, "shape.Batch", "positive");
        yield return Case(Good with { QueryHeads = -2 }, "shape.QueryHeads", "positive");
        yield return Case(Good with { KeyValueHeads = 0 }, "shape.KeyValueHeads", "positive");
        yield return Case(Good with { QueryLength = 0 }, "shape.QueryLength", "positive");
        yield return Case(Good with { KeyLength = -1 }, "shape.KeyLength", "positive");
        yield return Case(Good with { QueryHeads = 3, KeyValueHeads = 2 }, "shape.QueryHeads", "multiple of shape.KeyValueHeads");
        yield return Case(Good with { HeadDim = 48 }, "shape.HeadDim", "must be one of 32, 64, 80, 96, 128, 160, 192, 256");
        yield return Case(Good with { Layout = (AttentionLayout)7 }, "shape.Layout", "Bshd or Bhsd");
        yield return Case(new AttentionShape(64, 64, 64, 4096, 16, 256), "query and output tensor", "32-bit");
        yield return Case(new AttentionShape(1, 8, 8, 16, 1 << 21, 256), "key and value tensor", "32-bit");

        static TestCaseData Case(AttentionShape shape, string names, string expects) =>
            new TestCaseData(shape, names, expects).SetName($"Shape with bad {names} is rejected ({expects})");
    }

    [TestCaseSource(nameof(BadShapes))]
    public void A_bad_shape_is_rejected_with_the_argument_named(AttentionShape shape, string names, string expects)
    {
        var q = new float[Math.Clamp(shape.QueryElements, 0, 1000)];
        var error = Assert.Throws(Is.InstanceOf<ArgumentException>(), () => Engine.Attention(q, q, q, shape))!;
        Assert.That(error.Message, Does.Contain(names).And.Contain(expects));
    }

    private static IEnumerable<TestCaseData> BadOptions()
    {
        yield return Case(new AttentionOptions { Scale = float.NaN }, "options.Scale", "finite and positive");
        yield return Case(new AttentionOptions { Scale = float.PositiveInfinity }, "options.Scale", "finite and positive");
        yield return Case(new AttentionOptions { Scale = 0f }, "options.Scale", "finite and positive");
        yield return Case(new AttentionOptions { Scale = -0.5f }, "options.Scale", "finite and positive");
        yield return Case(new AttentionOptions { WindowLeft = -2 }, "options.WindowLeft", "-1 (unbounded) or at least 0");
        yield return Case(new AttentionOptions { WindowRight = -7 }, "options.WindowRight", "-1 (unbounded) or at least 0");
        yield return Case(new AttentionOptions { CacheLengths = [-1] }, "options.CacheLengths[0]", "between 0 and shape.KeyLength (13)");
        yield return Case(new AttentionOptions { CacheLengths = [14] }, "options.CacheLengths[0]", "between 0 and shape.KeyLength (13)");
        yield return Case(new AttentionOptions { CacheLengths = [3, 4] }, "options.CacheLengths", "one per sequence (shape.Batch = 1)");
        yield return Case(new AttentionOptions { CacheLengths = [] }, "options.CacheLengths", "one per sequence (shape.Batch = 1)");

        static TestCaseData Case(AttentionOptions options, string names, string expects) =>
            new TestCaseData(options, names, expects).SetName($"Options with bad {names} ({options.Scale?.ToString() ?? $"{options.WindowLeft},{options.WindowRight}"}{(options.CacheLengths is { } l ? $", lengths [{string.Join(",", l)}]" : "")}) are rejected");
    }

    [TestCaseSource(nameof(BadOptions))]
    public void Bad_options_are_rejected_with_the_argument_named(AttentionOptions options, string names, string expects)
    {
        var (q, k, v) = Inputs.For(Good);
        var error = (ArgumentException)Assert.Throws(Is.InstanceOf<ArgumentException>(), () => Engine.Attention(q, k, v, Good, options))!;
        Assert.That(error.Message, Does.Contain(names).And.Contain(expects));
        Assert.That(error.ParamName, Is.EqualTo("options"));
    }

    [TestCase("q", -1)]
    [TestCase("k", 1)]
    [TestCase("v", -5)]
    public void A_host_span_of_the_wrong_length_is_rejected_with_its_name_and_the_length_needed(string name, int delta)
    {
        var (q, k, v) = Inputs.For(Good);
        Array.Resize(ref name == "q" ? ref q : ref name == "k" ? ref k : ref v,
            (int)(name == "q" ? Good.QueryElements : Good.KeyValueElements) + delta);

        var error = Assert.Throws<ArgumentException>(() => Engine.Attention(q, k, v, Good))!;
        Assert.That(error.ParamName, Is.EqualTo(name));
        Assert.That(error.Message, Does.Contain($"needs exactly {(name == "q" ? Good.QueryElements : Good.KeyValueElements)}"));
    }

    [TestCase("q")]
    [TestCase("k")]
    [TestCase("v")]
    [TestCase("output")]
    [TestCase("logSumExp")]
    public void A_device_view_shorter_than_the_shape_needs_is_rejected_with_its_name(string name)
    {
        var accelerator = Engine.Accelerator;
        using var q = accelerator.Allocate1D<float>(Good.QueryElements - (name == "q" ? 1 : 0));
        using var k = accelerator.Allocate1D<float>(Good.KeyValueElements - (name == "k" ? 1 : 0));
        using var v = accelerator.Allocate1D<float>(Good.KeyValueElements - (name == "v" ? 1 : 0));
        using var output = accelerator.Allocate1D<float>(Good.QueryElements - (name == "output" ? 1 : 0));
        using var lse = accelerator.Allocate1D<float>(Good.LogSumExpElements - (name == "logSumExp" ? 1 : 0));

        var error = Assert.Throws<ArgumentException>(() =>
            Engine.Attention<float>(q.View, k.View, v.View, output.View, Good, null, lse.View))!;
        Assert.That(error.ParamName, Is.EqualTo(name));
        Assert.That(error.Message, Does.Contain("needs at least"));
    }

    [Test]
    public void A_default_view_is_rejected_as_null()
    {
        using var k = Engine.Accelerator.Allocate1D<float>(Good.KeyValueElements);
        var error = Assert.Throws<ArgumentNullException>(() =>
            Engine.Attention<float>(default, k.View, k.View, default, Good))!;
        Assert.That(error.ParamName, Is.EqualTo("q"));
    }

    [Test]
    public void An_output_that_overlaps_an_input_is_rejected()
    {
        using var buffer = Engine.Accelerator.Allocate1D<float>(Good.QueryElements + 2 * Good.KeyValueElements);
        var q = buffer.View.SubView(0, Good.QueryElements);
        var k = buffer.View.SubView(Good.QueryElements, Good.KeyValueElements);
        var v = buffer.View.SubView(Good.QueryElements + Good.KeyValueElements, Good.KeyValueElements);

        var error = Assert.Throws<ArgumentException>(() => Engine.Attention<float>(q, k, v, q, Good))!;
        Assert.That(error.ParamName, Is.EqualTo("output"));
        Assert.That(error.Message, Does.Contain("overlaps q"));
    }

    [Test]
    public void An_unsupported_element_type_is_rejected_naming_the_supported_ones()
    {
        using var q = Engine.Accelerator.Allocate1D<double>(Good.QueryElements);
        var error = Assert.Throws<ArgumentException>(() => Engine.Attention<double>(q.View, q.View, q.View, q.View, Good))!;
        Assert.That(error.Message, Does.Contain("System.Double").And.Contain("float, System.Half or TinyFlash.BFloat16"));
    }

    [Test]
    public void A_view_from_another_accelerator_is_rejected_naming_both()
    {
        using var context = Context.Create(builder => builder.CPU().EnableAlgorithms());
        using var other = context.GetCPUDevice(0).CreateCPUAccelerator(context);
        using var foreign = other.Allocate1D<float>(Good.QueryElements);
        using var k = Engine.Accelerator.Allocate1D<float>(Good.KeyValueElements);
        using var output = Engine.Accelerator.Allocate1D<float>(Good.QueryElements);

        var error = Assert.Throws<ArgumentException>(() =>
            Engine.Attention<float>(foreign.View, k.View, k.View, output.View, Good))!;
        Assert.That(error.ParamName, Is.EqualTo("q"));
        Assert.That(error.Message, Does.Contain("belongs to accelerator"));
    }

    [Test]
    public void A_disposed_engine_refuses_work()
    {
        var engine = FlashEngine.Create(BackendKind.Cpu);
        engine.Dispose();
        var (q, k, v) = Inputs.For(Good);

        Assert.Throws<ObjectDisposedException>(() => engine.Attention(q, k, v, Good));
        Assert.DoesNotThrow(engine.Dispose, "disposing twice is harmless");
    }

    [Test]
    public void A_backend_that_is_not_present_is_refused_with_the_list_of_those_that_are()
    {
        var absent = FlashEngine.ListDevices().Any(d => d.Backend == BackendKind.Cuda) ? (BackendKind?)null : BackendKind.Cuda;
        if (absent is null)
            Assert.Ignore("This machine has a CUDA device; no backend is absent.");

        var error = Assert.Throws<BackendNotAvailableException>(() => FlashEngine.Create(absent.Value))!;
        Assert.That(error.Requested, Is.EqualTo(BackendKind.Cuda));
        Assert.That(error.Available.Select(d => d.Backend), Does.Contain(BackendKind.Cpu));
        Assert.That(error.Message, Does.Contain("No Cuda device").And.Contain("Cpu: CPUAccelerator"));
    }

    [Test]
    public void An_allocation_the_device_cannot_satisfy_names_the_tensor_and_leaves_nothing_allocated()
    {
        var allocator = Engine.Allocator;
        int before = allocator.LiveBuffers;

        var error = Assert.Throws<DeviceOutOfMemoryException>(() =>
            allocator.AllocateAll<float>([(1024, "q"), (1024, "k"), (1L << 50, "v")]))!;

        Assert.That(error.Tensor, Is.EqualTo("v"));
        Assert.That(error.RequestedBytes, Is.EqualTo(4L << 50));
        Assert.That(error.Message, Does.Contain("could not allocate").And.Contain("'v'"));
        Assert.That(allocator.LiveBuffers, Is.EqualTo(before), "the buffers allocated before the failure were freed");
    }

    [Test]
    public void The_host_path_frees_its_buffers()
    {
        var (q, k, v) = Inputs.For(Good);
        Engine.Attention(q, k, v, Good);
        Assert.That(Engine.Allocator.LiveBuffers, Is.EqualTo(Engine.Workspace.HeldBuffers), "only the engine's workspace pool stays");
    }
}
