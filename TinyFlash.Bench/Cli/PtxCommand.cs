using System.CommandLine;
using System.Text.RegularExpressions;
using TinyFlash.Engine;
using TinyFlash.Tiling;

namespace TinyFlash.Bench.Cli;

/// <summary>
/// <c>ptx</c>: the PTX ILGPU generates for the forward kernel or a backward kernel (sm_90), without a GPU, with a summary of what matters
/// in a hot loop: local-memory traffic, vector shared-memory accesses, FMA-able arithmetic, barriers.
/// </summary>
internal static partial class PtxCommand
{
    public static Command Create()
    {
        var type = new Option<ElementType>("--dtype") { DefaultValueFactory = _ => ElementType.Float32, Description = "Storage type." };
        var headDim = new Option<int>("--head-dim", "-d") { DefaultValueFactory = _ => 128, Description = "Head dimension." };
        var blockM = new Option<int>("--block-m") { DefaultValueFactory = _ => 64, Description = "Query rows a group." };
        var threadsX = new Option<int>("--threads-x") { DefaultValueFactory = _ => 16, Description = "Threads across a key tile." };
        var tensorTile = new Option<string?>("--tensor-tile") { Description = "The tensor-core kernel (fp16/bf16) with this tile, WARPSxROWTILESxBLOCKN (mma.sync) or wgWARPGROUPSxBLOCKN (warpgroup, Hopper), instead of the portable one." };
        var output = new Option<string?>("--output", "-o") { Description = "Write the PTX to this file." };
        var backward = new Option<string?>("--backward")
        {
            Description = "A backward kernel instead: key-value (dK, dV, atomic dQ) or query (deterministic dQ), square tile --block-m (threads-x = block-m / 4), or tensor-core (the key-block pass on mma.sync for dK, dV, fp16/bf16), tensor-core-query (its dq pass), warpgroup and warpgroup-query (both passes on Hopper's warpgroup products, head dim 64 or 128).",
        };
        backward.AcceptOnlyFromAmong("key-value", "query", "tensor-core", "tensor-core-query", "warpgroup", "warpgroup-query");
        var modified = new Option<bool>("--modified") { Description = "The variant with score modifiers and dropout." };
        var elementwise = new Option<string?>("--elementwise") { Description = "A fused pre/post-processing kernel instead: norm, norm-backward or rotary." };
        var command = new Command("ptx", "Print a summary of a kernel's PTX (sm_90), generated without a GPU.")
            { type, headDim, blockM, threadsX, tensorTile, output, backward, modified, elementwise };
        command.SetAction(parse =>
        {
            ForwardPlan plan = parse.GetValue(tensorTile) is string tile
                ? ForwardPlan.ParseTensorCoreTile(tile, parse.GetValue(headDim))
                : new TilePlan(parse.GetValue(blockM), parse.GetValue(threadsX), parse.GetValue(headDim));
            using var generator = new PtxGenerator();
            string kernel = "Forward kernel";
            string ptx;
            if (parse.GetValue(elementwise) is string fused)
            {
                kernel = $"Kernel {fused}";
                ptx = generator.Elementwise(fused, parse.GetValue(type));
            }
            else if (parse.GetValue(backward) is "warpgroup" or "warpgroup-query")
            {
                bool queryGradient = parse.GetValue(backward) == "warpgroup-query";
                kernel = queryGradient ? "Backward warpgroup dq kernel" : "Backward warpgroup kernel";
                plan = new TilePlan(64, 16, parse.GetValue(headDim));
                ptx = generator.WarpGroupBackward(parse.GetValue(type), parse.GetValue(headDim), parse.GetValue(modified), queryGradient);
            }
            else if (parse.GetValue(backward) is "tensor-core" or "tensor-core-query")
            {
                bool queryGradient = parse.GetValue(backward) == "tensor-core-query";
                kernel = queryGradient ? "Backward tensor-core dq kernel" : "Backward tensor-core kernel";
                plan = new TilePlan(64, 16, parse.GetValue(headDim));
                ptx = generator.TensorCoreBackward(parse.GetValue(type), parse.GetValue(headDim), parse.GetValue(modified), queryGradient);
            }
            else if (parse.GetValue(backward) is string which)
            {
                plan = new TilePlan(parse.GetValue(blockM), parse.GetValue(blockM) / 4, parse.GetValue(headDim));
                var open = which == "query" ? typeof(Kernels.Backward.QueryGradientKernel<,,,,,>) : typeof(Kernels.Backward.KeyValueGradientKernel<,,,,,>);
                kernel = $"Backward {which} kernel";
                ptx = generator.Backward(open, parse.GetValue(type), (TilePlan)plan, parse.GetValue(modified));
            }
            else
                ptx = generator.Forward(parse.GetValue(type), plan, parse.GetValue(modified));
            if (parse.GetValue(output) is string path)
                File.WriteAllText(path, ptx);
            string configuration = parse.GetValue(elementwise) is null ? $", {plan.Describe()} (head dim {plan.HeadDim})" : "";
            Console.WriteLine($"{kernel}, {parse.GetValue(type)}{configuration}: {ptx.Split('\n').Length} lines of PTX");
            Console.WriteLine($"  ILGPU compile {generator.LastCompile.TotalMilliseconds:F0} ms, inline-operand pass {generator.LastRewrite.TotalMilliseconds:F0} ms");
            foreach (var (name, pattern) in new[]
                     {
                         ("local-memory accesses", @"\b(ld|st)\.local"),
                         ("16-byte shared loads", @"ld\.shared\.v4"),
                         ("16-byte shared stores", @"st\.shared\.v4"),
                         ("scalar shared accesses", @"(ld|st)\.shared\.(f|b|u|s)32"),
                         ("float multiplies (fusable)", @"mul(\.ftz)?\.f32"),
                         ("float adds (fusable)", @"add(\.ftz)?\.f32"),
                         ("ex2.approx", @"ex2\.approx"),
                         ("barriers", @"bar\.sync"),
                         ("global loads", @"ld\.global"),
                         ("mma.sync", @"mma\.sync"),
                         ("wgmma.mma_async", @"wgmma\.mma_async"),
                         ("ldmatrix", @"ldmatrix"),
                         ("cp.async copies", @"cp\.async\.cg"),
                         ("warp shuffles", @"shfl\.sync"),
                         ("atomic adds", @"(atom|red)\.[\w.]*add"),
                     })
                Console.WriteLine($"  {name,-28} {Regex.Matches(ptx, pattern).Count,6}");
            return 0;
        });
        return command;
    }
}
