using System.Text.Json;

namespace TinyFlash.Bench.Reporting;

/// <summary>
/// One record of any tool's JSON-lines output, read by the fields every record carries (<c>impl</c>, <c>device</c>,
/// <c>dtype</c>, <c>head_dim</c>, <c>causal</c>, <c>batch</c>, <c>heads</c>, <c>seq_q</c>, <c>seq_k</c>, <c>ms</c>,
/// <c>tflops</c>, <c>max_err</c>). A record with a <c>reference</c> field is an accuracy comparison, not a timing.
/// </summary>
internal sealed record BenchmarkRecord(string Impl, string Device, string Dtype, int HeadDim, bool Causal, int Batch, int Heads,
    int SeqQ, int SeqK, double? Ms, double? Tflops, double? MaxErr, string? Reference, string? Tile, string? Date)
{
    /// <summary>Every record of the given JSON-lines files; blank lines are skipped.</summary>
    public static IReadOnlyList<BenchmarkRecord> Load(IEnumerable<string> paths)
    {
        var records = new List<BenchmarkRecord>();
        foreach (string path in paths)
        {
            int lineNumber = 0;
            foreach (string line in File.ReadLines(path))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line))
                    continue;
                try
                {
                    records.Add(Parse(JsonDocument.Parse(line).RootElement));
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    throw new FormatException($"{path}:{lineNumber}: not a benchmark record ({e.Message}).", e);
                }
            }
        }
        return records;
    }

    private static BenchmarkRecord Parse(JsonElement r) => new(
        r.GetProperty("impl").GetString()!, r.GetProperty("device").GetString()!, r.GetProperty("dtype").GetString()!,
        r.GetProperty("head_dim").GetInt32(), r.GetProperty("causal").GetBoolean(), r.GetProperty("batch").GetInt32(),
        r.GetProperty("heads").GetInt32(), r.GetProperty("seq_q").GetInt32(), r.GetProperty("seq_k").GetInt32(),
        Number(r, "ms"), Number(r, "tflops"), Number(r, "max_err"), Text(r, "reference"), Text(r, "tile"), Text(r, "date"));

    private static double? Number(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static string? Text(JsonElement r, string name) =>
        r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
