using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>jit</c>: what the first call of a shape family costs. For each configuration, the time <see cref="FlashEngine.Warmup(AttentionShape, AttentionOptions?, ElementType)"/>
/// takes to compile its kernels (the first in a fresh engine and process is cold: ILGPU's context, the PTX backend and
/// the driver warm up too), then again (already compiled: the engine's cache), one JSON line each.
/// </summary>
internal static class JitCommand
{
    public static Command Create()
    {
        var backend = new Option<BackendKind>("--backend") { DefaultValueFactory = _ => BackendKind.Auto, Description = "Accelerator." };
        var output = new Option<string?>("--out", "-o") { Description = "JSON-lines file to append the records to." };
        var command = new Command("jit", "Measure the compile cost of kernel variants (cold and warm) through FlashEngine.Warmup.") { backend, output };
        command.SetAction(parse =>
        {
            var start = Stopwatch.StartNew();
            using var engine = FlashEngine.Create(parse.GetValue(backend), new FlashEngineOptions { UseTuningCache = false });
            double createMs = start.Elapsed.TotalMilliseconds;
            Console.WriteLine($"engine created in {createMs:F0} ms on {engine.Backend} {engine.DeviceName}");
            var variants = new (string Name, AttentionShape Shape, AttentionOptions? Options, ElementType Type)[]
            {
                ("fp16 d128 prefill", new(4, 16, 16, 4096, 4096, 128), null, ElementType.Float16),
                ("fp16 d128 prefill causal (same kernel)", new(4, 16, 16, 4096, 4096, 128), new AttentionOptions { Causal = true }, ElementType.Float16),
                ("bf16 d128 prefill", new(4, 16, 16, 4096, 4096, 128), null, ElementType.BFloat16),
                ("fp16 d64 prefill", new(8, 32, 32, 2048, 2048, 64), null, ElementType.Float16),
                ("fp16 d128 decode (split + combine)", new(8, 32, 8, 1, 32768, 128), new AttentionOptions { Causal = true }, ElementType.Float16),
                ("fp32 d128 prefill (portable)", new(4, 16, 16, 4096, 4096, 128), null, ElementType.Float32),
                ("fp16 d256 prefill", new(4, 8, 8, 4096, 4096, 256), null, ElementType.Float16),
            };
            foreach (var (name, shape, options, type) in variants)
            {
                int before = engine.CompiledKernels;
                double first = engine.Warmup(shape, options, type).TotalMilliseconds;
                double again = engine.Warmup(shape, options, type).TotalMilliseconds;
                string plan = engine.PlanFor(shape, options, type).Describe();
                Console.WriteLine($"{name,-40} {plan,-40} compile {first,8:F1} ms ({engine.CompiledKernels - before} kernels), again {again,6:F3} ms");
                if (parse.GetValue(output) is string path)
                    File.AppendAllText(path, JsonSerializer.Serialize(new
                    {
                        impl = "tinyflash-jit", device = engine.DeviceName, variant = name, plan, kernels = engine.CompiledKernels - before,
                        compile_ms = first, cached_ms = again, engine_create_ms = createMs, date = DateTime.UtcNow.ToString("yyyy-MM-dd"),
                    }) + Environment.NewLine);
            }
            return 0;
        });
        return command;
    }
}
