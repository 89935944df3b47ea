using TinyFlash.Attention;

namespace TinyFlash.Reference;

/// <summary>
/// Plain attention in double precision, <c>softmax(Q·Kᵀ·scale + mask)·V</c>, one query row at a time: the
/// independent reference every kernel is tested against. Same arguments and semantics as
/// <see cref="FlashEngine.Attention(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/>;
/// the masks are evaluated from FlashAttention-2's formulas directly, not from the kernels' diagonal bands.
/// </summary>
public static class ReferenceAttention
{
    /// <summary>The attention output, in the query's layout.</summary>
    /// <exception cref="ArgumentException">The shape, options or span lengths are invalid (same rules as the engine).</exception>
    public static double[] Compute(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        AttentionShape shape, AttentionOptions? options = null)
    {
        options ??= AttentionOptions.Default;
        float scale = Validate(q, k, v, shape, options);
        var output = new double[shape.QueryElements];
        var scores = new double[shape.KeyLength];
        for (int b = 0; b < shape.Batch; b++)
        for (int h = 0; h < shape.QueryHeads; h++)
        for (int i = 0; i < shape.QueryLength; i++)
            Row(q, k, v, shape, options, scale, b, h, i, scores, output.AsSpan(QueryIndex(shape, b, h, i), shape.HeadDim));
        return output;
    }

    /// <summary>The natural-log log-sum-exp of each query row's scaled, masked scores, [Batch, QueryHeads, QueryLength]; −∞ for a row that sees no key.</summary>
    public static double[] LogSumExp(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        AttentionShape shape, AttentionOptions? options = null)
    {
        options ??= AttentionOptions.Default;
        float scale = Validate(q, k, v, shape, options);
        var result = new double[shape.LogSumExpElements];
        var scores = new double[shape.KeyLength];
        int index = 0;
        for (int b = 0; b < shape.Batch; b++)
        for (int h = 0; h < shape.QueryHeads; h++)
        for (int i = 0; i < shape.QueryLength; i++)
        {
            double max = Scores(q, k, shape, options, scale, b, h, i, scores);
            double sum = 0;
            foreach (double s in scores)
                sum += Math.Exp(s - max);
            result[index++] = double.IsNegativeInfinity(max) ? double.NegativeInfinity : max + Math.Log(sum);
        }
        return result;
    }

    /// <summary>
    /// Whether query row <paramref name="i"/> of batch element <paramref name="b"/> may see key row <paramref name="j"/>,
    /// as FlashAttention-2 documents it (<c>flash_attn_with_kvcache</c> for a sequence with its own cache length,
    /// <c>flash_attn_varlen_func</c> for packed sequences: only keys of the query's own sequence, masks aligned within it).
    /// </summary>
    public static bool Visible(AttentionShape shape, AttentionOptions options, int b, int i, int j) =>
        Visible(shape, options, b, 0, i, j);

    /// <summary>
    /// <see cref="Visible(AttentionShape, AttentionOptions, int, int, int)"/> for query head <paramref name="h"/>, which
    /// matters for a block-sparse mask per head: there a key is visible in a full block, or in a partial block where the
    /// element mask says so.
    /// </summary>
    public static bool Visible(AttentionShape shape, AttentionOptions options, int b, int h, int i, int j)
    {
        if (options.BlockMask is { } blockMask)
            return blockMask.Visible(b, h, i, j);
        var (queryStart, queryLength, keyStart, keyLength) = SequenceOf(shape, options, b, i);
        if (j < keyStart || j >= keyStart + keyLength)
            return false;
        i -= queryStart;
        j -= keyStart;
        long diagonal = (long)i + keyLength - queryLength;
        if (options.Causal && j > diagonal)
            return false;
        if (options.WindowLeft >= 0 && j < diagonal - options.WindowLeft)
            return false;
        return options.WindowRight < 0 || j <= diagonal + options.WindowRight;
    }

    /// <summary>Writes one output row (query <paramref name="i"/> of head <paramref name="h"/> in batch <paramref name="b"/>) into <paramref name="row"/>.</summary>
    internal static void Row(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, AttentionShape shape,
        AttentionOptions options, float scale, int b, int h, int i, double[] scores, Span<double> row)
    {
        row.Clear();
        double max = Scores(q, k, shape, options, scale, b, h, i, scores);
        if (double.IsNegativeInfinity(max))
            return;
        double sum = 0;
        for (int j = 0; j < shape.KeyLength; j++)
        {
            scores[j] = Math.Exp(scores[j] - max);
            sum += scores[j];
        }
        int kvHead = KeyValueHead(shape, h);
        for (int j = 0; j < shape.KeyLength; j++)
        {
            if (scores[j] == 0)
                continue;
            double p = scores[j] / sum * DropoutFactor(shape, options, b, h, i, j);
            var value = v.Slice(KeyIndex(shape, b, kvHead, j), shape.HeadDim);
            for (int d = 0; d < shape.HeadDim; d++)
                row[d] += p * value[d];
        }
    }

    /// <summary>
    /// The gradients of <see cref="Compute"/> for output gradient <paramref name="gradOutput"/> (the output's layout), in
    /// closed form row by row: with P the softmax of the modified logits, Z the dropout factors and D = Σ_j P_j·dP_j,
    /// <code>
    ///   dP_j = Z_j·(dO·v_j)    dS_j = P_j·(dP_j − D)·∂s_j/∂x_j    dq += scale·Σ_j dS_j·k_j    dk_j += scale·dS_j·q    dv_j += P_j·Z_j·dO
    /// </code>
    /// where x = scale·q·k and ∂s/∂x is the softcap's derivative (1 without one). dk and dv of a key/value head sum
    /// over the query heads that read it.
    /// </summary>
    public static (double[] GradQuery, double[] GradKey, double[] GradValue) Backward(ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> gradOutput, AttentionShape shape, AttentionOptions? options = null)
    {
        options ??= AttentionOptions.Default;
        float scale = Validate(q, k, v, shape, options);
        AttentionValidator.RequireExactLength(gradOutput.Length, shape.QueryElements, nameof(gradOutput));
        var gradQuery = new double[shape.QueryElements];
        var gradKey = new double[shape.KeyValueElements];
        var gradValue = new double[shape.KeyValueElements];
        var scores = new double[shape.KeyLength];
        var gradScores = new double[shape.KeyLength];
        int d = shape.HeadDim;
        for (int b = 0; b < shape.Batch; b++)
        for (int h = 0; h < shape.QueryHeads; h++)
        for (int i = 0; i < shape.QueryLength; i++)
        {
            double max = Scores(q, k, shape, options, scale, b, h, i, scores);
            if (double.IsNegativeInfinity(max))
                continue;
            double sum = 0;
            for (int j = 0; j < shape.KeyLength; j++)
                sum += scores[j] = Math.Exp(scores[j] - max);
            int kvHead = KeyValueHead(shape, h);
            var query = q.Slice(QueryIndex(shape, b, h, i), d);
            var gradRow = gradOutput.Slice(QueryIndex(shape, b, h, i), d);
            double delta = 0;
            for (int j = 0; j < shape.KeyLength; j++)
            {
                scores[j] /= sum;
                if (scores[j] == 0)
                {
                    gradScores[j] = 0;
                    continue;
                }
                var value = v.Slice(KeyIndex(shape, b, kvHead, j), d);
                double dot = 0;
                for (int f = 0; f < d; f++)
                    dot += (double)gradRow[f] * value[f];
                gradScores[j] = dot * DropoutFactor(shape, options, b, h, i, j); // dP_j
                delta += scores[j] * gradScores[j];
            }
            var gradQueryRow = gradQuery.AsSpan(QueryIndex(shape, b, h, i), d);
            for (int j = 0; j < shape.KeyLength; j++)
            {
                if (scores[j] == 0)
                    continue;
                int keyIndex = KeyIndex(shape, b, kvHead, j);
                var key = k.Slice(keyIndex, d);
                double slope = 1;
                if (options.Softcap is float cap)
                {
                    double x = 0;
                    for (int f = 0; f < d; f++)
                        x += (double)query[f] * key[f];
                    double t = Math.Tanh(x * scale / cap);
                    slope = 1 - t * t;
                }
                double gradScore = scores[j] * (gradScores[j] - delta) * slope;
                double kept = scores[j] * DropoutFactor(shape, options, b, h, i, j);
                for (int f = 0; f < d; f++)
                {
                    gradQueryRow[f] += scale * gradScore * key[f];
                    gradKey[keyIndex + f] += scale * gradScore * query[f];
                    gradValue[keyIndex + f] += kept * gradRow[f];
                }
            }
        }
        return (gradQuery, gradKey, gradValue);
    }

    /// <summary>
    /// Dropout's factor for query <paramref name="i"/> of head <paramref name="h"/> in batch <paramref name="b"/> and key
    /// <paramref name="j"/> (positions in the tensors): 1/(1 − p′) if the Philox stream keeps it (at its row in the
    /// log-sum-exp's order, its position in the sequence and its key counted from the sequence's first), 0 if not, 1
    /// without dropout; p′ is p at the stream's resolution (<see cref="Numerics.Philox.AttentionDropProbability"/>).
    /// </summary>
    internal static double DropoutFactor(AttentionShape shape, AttentionOptions options, int b, int h, int i, int j)
    {
        float p = options.DropoutProbability;
        if (p <= 0f)
            return 1;
        var sequence = SequenceOf(shape, options, b, i);
        int rowIndex = (b * shape.QueryHeads + h) * shape.QueryLength + i;
        return Numerics.Philox.AttentionKeeps(options.DropoutSeed, options.DropoutOffset, rowIndex, i - sequence.QueryStart, j - sequence.KeyStart, p)
            ? 1 / (1 - Numerics.Philox.AttentionDropProbability(p))
            : 0;
    }

    /// <summary>Fills <paramref name="scores"/> with the scaled scores of one query row (−∞ where hidden) and returns their maximum.</summary>
    private static double Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> k, AttentionShape shape,
        AttentionOptions options, float scale, int b, int h, int i, double[] scores)
    {
        var query = q.Slice(QueryIndex(shape, b, h, i), shape.HeadDim);
        int kvHead = KeyValueHead(shape, h);
        double max = double.NegativeInfinity;
        for (int j = 0; j < shape.KeyLength; j++)
        {
            if (!Visible(shape, options, b, h, i, j))
            {
                scores[j] = double.NegativeInfinity;
                continue;
            }
            var key = k.Slice(KeyIndex(shape, b, kvHead, j), shape.HeadDim);
            double dot = 0;
            for (int d = 0; d < shape.HeadDim; d++)
                dot += (double)query[d] * key[d];
            scores[j] = Modify(shape, options, b, h, i, j, dot * scale);
            max = Math.Max(max, scores[j]);
        }
        return max;
    }

    /// <summary>
    /// Logit <paramref name="x"/> of query row <paramref name="i"/> and key <paramref name="j"/> after the options'
    /// softcap, ALiBi and bias, from their definitions (FlashAttention-2's order: softcap, then ALiBi, then bias).
    /// </summary>
    internal static double Modify(AttentionShape shape, AttentionOptions options, int b, int h, int i, int j, double x)
    {
        if (options.Softcap is float cap)
            x = cap * Math.Tanh(x / cap);
        if (options.AlibiSlopes is { } slopes)
        {
            double slope = slopes.Count == shape.QueryHeads ? slopes[h] : slopes[b * shape.QueryHeads + h];
            var (queryStart, queryLength, keyStart, keyLength) = SequenceOf(shape, options, b, i);
            x -= slope * Math.Abs((i - queryStart) + keyLength - queryLength - (j - keyStart));
        }
        if (options.Bias is { HostValues: { } bias } given)
            x += bias[(((given.Batch == 1 ? 0 : b) * given.Heads + (given.Heads == 1 ? 0 : h)) * shape.QueryLength + i) * shape.KeyLength + j];
        return x;
    }

    /// <summary>
    /// The sequence query row <paramref name="i"/> of batch element <paramref name="b"/> belongs to: where its queries
    /// and keys start in the tensors, and how many of each it has.
    /// </summary>
    internal static (int QueryStart, int QueryLength, int KeyStart, int KeyLength) SequenceOf(
        AttentionShape shape, AttentionOptions options, int b, int i)
    {
        if (options.QuerySequenceOffsets is { } queries && options.KeySequenceOffsets is { } keys)
        {
            int s = 0;
            while (queries[s + 1] <= i)
                s++;
            return (queries[s], queries[s + 1] - queries[s], keys[s], keys[s + 1] - keys[s]);
        }
        return (0, shape.QueryLength, 0, options.CacheLengths is { } lengths ? lengths[b] : shape.KeyLength);
    }

    /// <summary>Index of feature 0 of query (or output) row <paramref name="i"/> of head <paramref name="h"/> in batch <paramref name="b"/>.</summary>
    internal static int QueryIndex(AttentionShape s, int b, int h, int i) => s.Layout == AttentionLayout.Bshd
        ? ((b * s.QueryLength + i) * s.QueryHeads + h) * s.HeadDim
        : ((b * s.QueryHeads + h) * s.QueryLength + i) * s.HeadDim;

    /// <summary>Index of feature 0 of key (or value) row <paramref name="j"/> of key/value head <paramref name="h"/> in batch <paramref name="b"/>.</summary>
    internal static int KeyIndex(AttentionShape s, int b, int h, int j) => s.Layout == AttentionLayout.Bshd
        ? ((b * s.KeyLength + j) * s.KeyValueHeads + h) * s.HeadDim
        : ((b * s.KeyValueHeads + h) * s.KeyLength + j) * s.HeadDim;

    /// <summary>The key/value head query head <paramref name="h"/> reads under grouped-query attention.</summary>
    internal static int KeyValueHead(AttentionShape s, int h) => h / (s.QueryHeads / s.KeyValueHeads);

    /// <summary>Checks arguments with the engine's rules and returns the effective scale.</summary>
    internal static float Validate(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        AttentionShape shape, AttentionOptions options)
    {
        var problem = AttentionValidator.Validate(shape, options);
        AttentionValidator.RequireExactLength(q.Length, shape.QueryElements, nameof(q));
        AttentionValidator.RequireExactLength(k.Length, shape.KeyValueElements, nameof(k));
        AttentionValidator.RequireExactLength(v.Length, shape.KeyValueElements, nameof(v));
        return problem.Scale;
    }
}
