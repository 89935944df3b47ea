using Half = System.Half;

namespace TinyFlash.Reference;

/// <summary>
/// Attention computed naively in a storage type, the way a framework without a fused kernel does it: the baseline
/// of FlashAttention's accuracy rule (a fused fp16/bf16 kernel may err at most twice as much as this against the
/// double reference). Scores are rounded to the storage type after Q·scale and after Q·Kᵀ, softmax runs in fp32
/// (or, for the accuracy report, in the storage type too), probabilities are rounded, and P·V accumulates in fp32
/// before a final rounding.
/// </summary>
public static class NaiveAttention
{
    /// <summary>The output, in the query's layout, of attention computed in <paramref name="storage"/>.</summary>
    /// <param name="q">Queries, already representable in <paramref name="storage"/>.</param>
    /// <param name="k">Keys, likewise.</param>
    /// <param name="v">Values, likewise.</param>
    /// <param name="shape">Sizes and layout.</param>
    /// <param name="options">Scale and masks.</param>
    /// <param name="storage">The type every intermediate tensor is rounded to.</param>
    /// <param name="softmaxInStorageType">Also keep the softmax's max, exponentials and sum in <paramref name="storage"/> (no fp32 statistics).</param>
    public static float[] Compute(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        AttentionShape shape, AttentionOptions? options, ElementType storage, bool softmaxInStorageType = false)
    {
        options ??= AttentionOptions.Default;
        float scale = ReferenceAttention.Validate(q, k, v, shape, options);
        var round = RoundingOf(storage);
        var output = new float[shape.QueryElements];
        var scores = new float[shape.KeyLength];
        for (int b = 0; b < shape.Batch; b++)
        for (int h = 0; h < shape.QueryHeads; h++)
        for (int i = 0; i < shape.QueryLength; i++)
            Row(q, k, v, shape, options, scale, round, softmaxInStorageType, b, h, i, scores,
                output.AsSpan(ReferenceAttention.QueryIndex(shape, b, h, i), shape.HeadDim));
        return output;
    }

    /// <summary>Writes one output row (query <paramref name="i"/> of head <paramref name="h"/> in batch <paramref name="b"/>) into <paramref name="row"/>.</summary>
    internal static void Row(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, AttentionShape shape,
        AttentionOptions options, float scale, Func<float, float> round, bool softmaxInStorageType,
        int b, int h, int i, float[] scores, Span<float> row)
    {
        // The query scaled and rounded to storage once for the row, as a framework computes q·scale before Q·Kᵀ.
        Span<float> query = stackalloc float[shape.HeadDim];
        var source = q.Slice(ReferenceAttention.QueryIndex(shape, b, h, i), shape.HeadDim);
        for (int d = 0; d < shape.HeadDim; d++)
            query[d] = round(source[d] * scale);
        int kvHead = ReferenceAttention.KeyValueHead(shape, h);
        float max = float.NegativeInfinity;
        for (int j = 0; j < shape.KeyLength; j++)
        {
            if (!ReferenceAttention.Visible(shape, options, b, h, i, j))
            {
                scores[j] = float.NegativeInfinity;
                continue;
            }
            var key = k.Slice(ReferenceAttention.KeyIndex(shape, b, kvHead, j), shape.HeadDim);
            float dot = 0;
            for (int d = 0; d < shape.HeadDim; d++)
                dot += query[d] * key[d];
            // The same softcap, ALiBi and bias as the reference, applied to the rounded logit as a framework would.
            scores[j] = round((float)ReferenceAttention.Modify(shape, options, b, h, i, j, round(dot)));
            max = Math.Max(max, scores[j]);
        }
        row.Clear();
        if (float.IsNegativeInfinity(max))
            return; // a row that sees no key stays zero

        Softmax(scores, max, softmaxInStorageType ? round : static x => x, round);
        for (int j = 0; j < shape.KeyLength; j++)
        {
            if (options.DropoutProbability > 0f)
                scores[j] = round((float)(scores[j] * ReferenceAttention.DropoutFactor(shape, options, b, h, i, j)));
            if (scores[j] == 0)
                continue;
            var value = v.Slice(ReferenceAttention.KeyIndex(shape, b, kvHead, j), shape.HeadDim);
            for (int d = 0; d < shape.HeadDim; d++)
                row[d] += scores[j] * value[d];
        }
        for (int d = 0; d < shape.HeadDim; d++)
            row[d] = round(row[d]);
    }

    /// <summary>
    /// The gradients dq, dk, dv computed naively in <paramref name="storage"/>, as a framework's unfused backward does:
    /// S = Q·Kᵀ·scale and P = softmax(S) rounded, dP = dO·Vᵀ rounded (times the dropout factors, rounded),
    /// dS = P∘(dP − rowsum(P∘dP)) rounded, each product accumulated in fp32 and rounded, dk and dv rounded per query
    /// head and then summed over a key/value head's query heads. The baseline of the backward's accuracy rule.
    /// </summary>
    public static (float[] GradQuery, float[] GradKey, float[] GradValue) Backward(ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<float> gradOutput, AttentionShape shape, AttentionOptions? options, ElementType storage)
    {
        options ??= AttentionOptions.Default;
        float scale = ReferenceAttention.Validate(q, k, v, shape, options);
        var round = RoundingOf(storage);
        int d = shape.HeadDim;
        var gradQuery = new float[shape.QueryElements];
        var gradKey = new float[shape.KeyValueElements];
        var gradValue = new float[shape.KeyValueElements];
        var probabilities = new float[shape.KeyLength];
        var gradScores = new float[shape.KeyLength];
        var headKey = new float[(long)shape.KeyLength * d];
        var headValue = new float[(long)shape.KeyLength * d];
        for (int b = 0; b < shape.Batch; b++)
        for (int h = 0; h < shape.QueryHeads; h++)
        {
            int kvHead = ReferenceAttention.KeyValueHead(shape, h);
            Array.Clear(headKey);
            Array.Clear(headValue);
            for (int i = 0; i < shape.QueryLength; i++)
            {
                        var query = q.Slice(ReferenceAttention.QueryIndex(shape, b, h, i), d);
                var gradRow = gradOutput.Slice(ReferenceAttention.QueryIndex(shape, b, h, i), d);
                float max = float.NegativeInfinity;
                for (int j = 0; j < shape.KeyLength; j++)
                {
                    probabilities[j] = float.NegativeInfinity;
                    if (!ReferenceAttention.Visible(shape, options, b, h, i, j))
                        continue;
                    var key = k.Slice(ReferenceAttention.KeyIndex(shape, b, kvHead, j), d);
                    float dot = 0;
                    for (int f = 0; f < d; f++)
                        dot += query[f] * key[f];
                    probabilities[j] = round((float)ReferenceAttention.Modify(shape, options, b, h, i, j, round(dot * scale)));
                    max = Math.Max(max, probabilities[j]);
                }
                if (float.IsNegativeInfinity(max))
                    continue;
                Softmax(probabilities, max, static x => x, round);
                float delta = 0;
                for (int j = 0; j < shape.KeyLength; j++)
                {
                    gradScores[j] = 0;
                    if (probabilities[j] == 0)
                        continue;
                    var value = v.Slice(ReferenceAttention.KeyIndex(shape, b, kvHead, j), d);
                    float dot = 0;
                    for (int f = 0; f < d; f++)
                        dot += gradRow[f] * value[f];
                    gradScores[j] = round(round(dot) * (float)ReferenceAttention.DropoutFactor(shape, options, b, h, i, j));
                    delta += probabilities[j] * gradScores[j];
                }
                var gradQueryRow = gradQuery.AsSpan(ReferenceAttention.QueryIndex(shape, b, h, i), d);
                for (int j = 0; j < shape.KeyLength; j++)
                {
                    if (probabilities[j] == 0)
                        continue;
                    var key = k.Slice(ReferenceAttention.KeyIndex(shape, b, kvHead, j), d);
                    float slope = 1;
                    if (options.Softcap is float cap)
                    {
                        float x = 0;
                        for (int f = 0; f < d; f++)
                            x += query[f] * key[f];
                        float t = MathF.Tanh(round(x * scale) / cap);
                        slope = 1 - t * t;
                    }
                    float gradScore = round(probabilities[j] * (gradScores[j] - delta) * slope);
                    float kept = round(probabilities[j] * (float)ReferenceAttention.DropoutFactor(shape, options, b, h, i, j));
                    for (int f = 0; f < d; f++)
                    {
                        gradQueryRow[f] += gradScore * key[f] * scale;
                        headKey[(long)j * d + f] += gradScore * query[f] * scale;
                        headValue[(long)j * d + f] += kept * gradRow[f];
                    }
                }
            }
            for (int j = 0; j < shape.KeyLength; j++)
            {
                int keyIndex = ReferenceAttention.KeyIndex(shape, b, kvHead, j);
                for (int f = 0; f < d; f++)
                {
                    gradKey[keyIndex + f] += round(headKey[(long)j * d + f]);
                    gradValue[keyIndex + f] += round(headValue[(long)j * d + f]);
                }
            }
        }
        for (int e = 0; e < gradQuery.Length; e++)
            gradQuery[e] = round(gradQuery[e]);
        for (int e = 0; e < gradKey.Length; e++)
        {
            gradKey[e] = round(gradKey[e]);
            gradValue[e] = round(gradValue[e]);
        }
        return (gradQuery, gradKey, gradValue);
    }

    /// <summary>The function that rounds a float to the nearest value of <paramref name="storage"/>.</summary>
    public static Func<float, float> RoundingOf(ElementType storage) => storage switch
    {
        ElementType.Float32 => static x => x,
        ElementType.Float16 => static x => (float)(Half)x,
        ElementType.BFloat16 => static x => (float)(BFloat16)x,
        _ => throw new ArgumentOutOfRangeException(nameof(storage), storage, "Unknown element type."),
    };

    /// <summary>Replaces scores by probabilities rounded to storage; <paramref name="statistic"/> rounds the running max, exponentials and sum.</summary>
    private static void Softmax(float[] scores, float max, Func<float, float> statistic, Func<float, float> round)
    {
        float sum = 0;
        for (int j = 0; j < scores.Length; j++)
        {
            scores[j] = statistic(MathF.Exp(statistic(scores[j] - max)));
            sum = statistic(sum + scores[j]);
        }
        for (int j = 0; j < scores.Length; j++)
            scores[j] = round(scores[j] / sum);
    }
}
