using System.Text.Json;
using System.Text.Json.Serialization;

namespace TinyFlash.Bench.Measurement;

/// <summary>
/// One measured attention call, in the schema every benchmark tool of the project writes (the PyTorch baseline
/// script writes the same fields), one JSON object a line. <see cref="Tile"/> names TinyFlash's configuration
/// (tile and key splits); <see cref="Tbps"/> is the key/value bandwidth of decode runs (terabytes a second);
/// <see cref="Variant"/> names the scenario of a sparse run (for example <c>window-256</c> or <c>dense-causal</c>).
/// </summary>
internal sealed record RunRecord(
    string Impl,
    string Device,
    string Dtype,
    int HeadDim,
    bool Causal,
    int Batch,
    int Heads,
    int KvHeads,
    int SeqQ,
    int SeqK,
    int WindowLeft,
    int WindowRight,
    string Layout,
    double Ms,
    double Tflops,
    double MaxErr,
    string Date,
    string? Tile = null,
    double? Tbps = null,
    string? Variant = null,
    string? Clock = null)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The dtype name PyTorch uses for a storage type.</summary>
    public static string DtypeName(ElementType type) => type switch
    {
        ElementType.Float32 => "float32",
        ElementType.Float16 => "float16",
        _ => "bfloat16",
    };

    /// <summary>Appends this record as one line of <paramref name="path"/>.</summary>
    public void AppendTo(string path)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        File.AppendAllText(path, JsonSerializer.Serialize(this, Json) + Environment.NewLine);
    }
}
