namespace TinyFlash;

/// <summary>
/// The sizes of one attention call. Queries have <paramref name="QueryHeads"/> heads, keys and values
/// <paramref name="KeyValueHeads"/>; with grouped-query attention query head <c>h</c> reads key/value head
/// <c>h / (QueryHeads / KeyValueHeads)</c>. The output has the query's shape and layout.
/// </summary>
/// <param name="Batch">Number of independent sequences.</param>
/// <param name="QueryHeads">Query (and output) heads; a multiple of <paramref name="KeyValueHeads"/>.</param>
/// <param name="KeyValueHeads">Key and value heads (equal to <paramref name="QueryHeads"/> for multi-head attention, 1 for multi-query).</param>
/// <param name="QueryLength">Query positions per sequence.</param>
/// <param name="KeyLength">Key and value positions per sequence.</param>
/// <param name="HeadDim">Features per head: 32, 64, 80, 96, 128, 160, 192 or 256.</param>
/// <param name="Layout">Memory order of every tensor.</param>
/// <example>
/// <code>var shape = new AttentionShape(Batch: 2, QueryHeads: 8, KeyValueHeads: 2, QueryLength: 512, KeyLength: 512, HeadDim: 64);</code>
/// </example>
public readonly record struct AttentionShape(
    int Batch,
    int QueryHeads,
    int KeyValueHeads,
    int QueryLength,
    int KeyLength,
    int HeadDim,
    AttentionLayout Layout = AttentionLayout.Bshd)
{
    /// <summary>Elements in the query tensor, and in the output: Batch·QueryHeads·QueryLength·HeadDim.</summary>
    public long QueryElements => (long)Batch * QueryHeads * QueryLength * HeadDim;

    /// <summary>Elements in the key tensor, and in the value tensor: Batch·KeyValueHeads·KeyLength·HeadDim.</summary>
    public long KeyValueElements => (long)Batch * KeyValueHeads * KeyLength * HeadDim;

    /// <summary>Elements in the log-sum-exp tensor: Batch·QueryHeads·QueryLength.</summary>
    public long LogSumExpElements => (long)Batch * QueryHeads * QueryLength;
}
