using System.CommandLine;
using TinyFlash.Tiling;

namespace TinyFlash.Bench.Cli;

/// <summary>The options that describe one attention problem, shared by <c>run</c> and the benchmark commands.</summary>
internal sealed class ProblemOptions
{
    public Option<BackendKind> Backend { get; } = new("--backend") { Description = "Accelerator: auto (CUDA, then an OpenCL GPU, then the CPU), cuda, opencl or cpu.", DefaultValueFactory = _ => BackendKind.Auto };
    public Option<int> Batch { get; } = new("--batch", "-b") { Description = "Batch size.", DefaultValueFactory = _ => 1 };
    public Option<int> Heads { get; } = new("--heads") { Description = "Query heads.", DefaultValueFactory = _ => 4 };
    public Option<int?> KeyValueHeads { get; } = new("--kv-heads") { Description = "Key/value heads (default: --heads)." };
    public Option<int> Sequence { get; } = new("--seq", "-n") { Description = "Query and key length.", DefaultValueFactory = _ => 256 };
    public Option<int?> QueryLength { get; } = new("--seq-q") { Description = "Query length (default: --seq)." };
    public Option<int?> KeyLength { get; } = new("--seq-k") { Description = "Key length (default: --seq)." };
    public Option<int> HeadDim { get; } = new("--head-dim", "-d") { Description = "Head dimension: 32, 64, 80, 96, 128, 160, 192 or 256.", DefaultValueFactory = _ => 64 };
    public Option<ElementType> Type { get; } = new("--dtype") { Description = "Storage type: float32, float16 or bfloat16.", DefaultValueFactory = _ => ElementType.Float32 };
    public Option<AttentionLayout> Layout { get; } = new("--layout") { Description = "bshd (FlashAttention) or bhsd (PyTorch).", DefaultValueFactory = _ => AttentionLayout.Bshd };
    public Option<bool> Causal { get; } = new("--causal") { Description = "Causal mask (bottom-right aligned)." };
    public Option<int> WindowLeft { get; } = new("--window-left") { Description = "Sliding window: keys visible left of the diagonal (-1: unbounded).", DefaultValueFactory = _ => -1 };
    public Option<int> WindowRight { get; } = new("--window-right") { Description = "Sliding window: keys visible right of the diagonal (-1: unbounded).", DefaultValueFactory = _ => -1 };
    public Option<int?> BlockM { get; } = new("--block-m") { Description = "Force the query rows of a tile (with --threads-x), instead of the planner's choice." };
    public Option<int?> ThreadsX { get; } = new("--threads-x") { Description = "Force the threads across a key tile (tile keys = 4 x threads-x)." };
    public Option<string?> TensorTile { get; } = new("--tensor-tile") { Description = "Force the tensor-core kernel (fp16/bf16 on CUDA) with this tile: WARPSxROWTILESxBLOCKN (mma.sync, e.g. 4x2x64) or wgWARPGROUPSxBLOCKN (warpgroup products on Hopper, e.g. wg2x128)." };
    public Option<int?> KeySplits { get; } = new("--key-splits") { Description = "With a forced tile: split each query block's keys across this many groups (flash-decoding)." };
    public Option<FileInfo?> MaskFile { get; } = new("--mask-file") { Description = "A boolean mask shared by every batch element and head: a text file of seq-q lines of seq-k characters, 1 visible, 0 hidden. The analyzer's finding and the kernel it selects are printed." };
    public Option<int[]?> CacheLengths { get; } = new("--cache-lengths") { AllowMultipleArgumentsPerToken = true, Description = "Valid keys of each sequence (one per batch element), for decode against a partly filled cache." };

    public Option<float> Dropout { get; } = new("--dropout") { Description = "Dropout probability on the attention probabilities (training's forward; seed 1)." };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Backend, Batch, Heads, KeyValueHeads, Sequence, QueryLength, KeyLength, HeadDim,
                     Type, Layout, Causal, WindowLeft, WindowRight, BlockM, ThreadsX, TensorTile, KeySplits, CacheLengths, MaskFile, Dropout })
            command.Options.Add(option);
    }

    public AttentionShape Shape(ParseResult parse)
    {
        int heads = parse.GetValue(Heads);
        int sequence = parse.GetValue(Sequence);
        return new AttentionShape(parse.GetValue(Batch), heads, parse.GetValue(KeyValueHeads) ?? heads,
            parse.GetValue(QueryLength) ?? sequence, parse.GetValue(KeyLength) ?? sequence, parse.GetValue(HeadDim),
            parse.GetValue(Layout));
    }

    public AttentionOptions Options(ParseResult parse) => new()
    {
        Causal = parse.GetValue(Causal),
        WindowLeft = parse.GetValue(WindowLeft),
        WindowRight = parse.GetValue(WindowRight),
        CacheLengths = parse.GetValue(CacheLengths) is { Length: > 0 } lengths ? lengths : null,
        Bias = parse.GetValue(MaskFile) is { } file ? AttentionBias.FromMask(ReadMask(file, Shape(parse))) : null,
        DropoutProbability = parse.GetValue(Dropout),
        DropoutSeed = 1,
    };

    /// <summary>A mask file: QueryLength lines of KeyLength '0'/'1' characters (other characters, spaces, are ignored).</summary>
    private static bool[] ReadMask(FileInfo file, AttentionShape shape)
    {
        var rows = File.ReadAllLines(file.FullName)
            .Select(line => line.Where(c => c is '0' or '1').Select(c => c == '1').ToArray())
            .Where(row => row.Length > 0)
            .ToArray();
        if (rows.Length != shape.QueryLength || rows.Any(row => row.Length != shape.KeyLength))
            throw new ArgumentException(
                $"--mask-file {file.Name} has {rows.Length} rows of {string.Join("/", rows.Select(r => r.Length).Distinct())} entries; the shape needs {shape.QueryLength} rows of {shape.KeyLength}.");
        return [.. rows.SelectMany(row => row)];
    }

    /// <summary>The forced plan: a tensor-core tile, or a portable one if both of its options are given.</summary>
    public ExecutionPlan? Plan(ParseResult parse, int headDim)
    {
        ForwardPlan? tile = parse.GetValue(TensorTile) is string tensorTile ? ForwardPlan.ParseTensorCoreTile(tensorTile, headDim)
            : parse.GetValue(BlockM) is int blockM && parse.GetValue(ThreadsX) is int threadsX ? new TilePlan(blockM, threadsX, headDim)
            : null;
        int? splits = parse.GetValue(KeySplits);
        if (tile is null && splits is not null)
            throw new ArgumentException("--key-splits needs a forced tile (--tensor-tile, or --block-m with --threads-x).");
        return tile is null ? null : new ExecutionPlan(tile, splits ?? 1);
    }
}
