namespace TinyFlash.Reference;

/// <summary>
/// Rotary position embeddings and the QKV split in double precision, from the definition: pair i of a head at
/// position t turns by t·base^(−2i/d) radians; the independent reference of <see cref="FlashEngine.RotaryQkvSplit{T}"/>.
/// </summary>
public static class RotaryReference
{
    /// <summary>q, k and v in <paramref name="shape"/>'s layout from a packed projection [B, S, (Hq + 2·Hkv)·d].</summary>
    public static (double[] Q, double[] K, double[] V) Compute(ReadOnlySpan<float> qkv, AttentionShape shape, RotaryOptions options)
    {
        Rotary.RotarySplit.Validate(qkv.Length, shape, options);
        int d = shape.HeadDim, heads = shape.QueryHeads + 2 * shape.KeyValueHeads;
        var q = new double[shape.QueryElements];
        var k = new double[shape.KeyValueElements];
        var v = new double[shape.KeyValueElements];
        for (int b = 0; b < shape.Batch; b++)
        for (int s = 0; s < shape.QueryLength; s++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < d / 2; i++)
        {
            int first = options.Style == RotaryStyle.Interleaved ? 2 * i : i;
            int second = options.Style == RotaryStyle.Interleaved ? 2 * i + 1 : i + d / 2;
            int source = ((b * shape.QueryLength + s) * heads + h) * d;
            double a = qkv[source + first], c = qkv[source + second];
            if (h >= shape.QueryHeads + shape.KeyValueHeads)
            {
                int index = ReferenceAttention.KeyIndex(shape, b, h - shape.QueryHeads - shape.KeyValueHeads, s);
                v[index + first] = a;
                v[index + second] = c;
                continue;
            }
            double angle = (s + (options.PositionOffsets?[b] ?? 0)) * Math.Pow(options.Base, -2.0 * i / d);
            double ra = a * Math.Cos(angle) - c * Math.Sin(angle), rc = c * Math.Cos(angle) + a * Math.Sin(angle);
            if (h < shape.QueryHeads)
            {
                double scale = options.QueryScale ?? 1;
                int index = ReferenceAttention.QueryIndex(shape, b, h, s);
                q[index + first] = ra * scale;
                q[index + second] = rc * scale;
            }
            else
            {
                int index = ReferenceAttention.KeyIndex(shape, b, h - shape.QueryHeads, s);
                k[index + first] = ra;
                k[index + second] = rc;
            }
        }
        return (q, k, v);
    }
}
