using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Rotary;

/// <summary>
/// Rotary position embeddings applied while a packed QKV projection is split into q, k and v in the attention layout:
/// one read and one write of every element. One thread per (token, head, feature pair): for q and k heads
/// <code>
///   angle = position · 2^(i·FrequencyExponent)  (fp32, as Hugging Face and FlashAttention compute it), reduced to [−π, π]
///   (a, b) → (a·cos − b·sin, b·cos + a·sin)      (a, b) = features (i, i + d/2), or (2i, 2i + 1) interleaved
/// </code>
/// q is also multiplied by QueryScale; v heads are copied. Consecutive threads take consecutive pairs of a head, so
/// every read and write of a warp is contiguous in both conventions.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class RotaryQkvSplitKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Entry point: one thread per (batch, position, head of Hq + 2·Hkv, pair of d/2).</summary>
    public static void Run(RotaryParams<T> p)
    {
        int pairs = p.HeadDim / 2, heads = p.QueryHeads + 2 * p.KeyValueHeads;
        int index = Grid.GlobalIndex.X;
        int token = index / (heads * pairs);
        if (token >= p.Qkv.IntLength / (heads * p.HeadDim))
            return;
        int rest = index - token * heads * pairs;
        int head = rest / pairs, pair = rest - head * pairs;
        int batch = token / p.Sequence, position = token - batch * p.Sequence;

        int first = p.Interleaved != 0 ? 2 * pair : pair;
        int second = p.Interleaved != 0 ? 2 * pair + 1 : pair + pairs;
        int source = (token * heads + head) * p.HeadDim;
        TCodec codec = default;
        float a = codec.ToFloat(p.Qkv[source + first]), b = codec.ToFloat(p.Qkv[source + second]);

        ArrayView<T> target;
        int origin;
        if (head < p.QueryHeads + p.KeyValueHeads)
        {
            int absolute = position + (p.PositionOffsets.Length > 0 ? p.PositionOffsets[batch] : 0);
            float angle = absolute * XMath.Exp2(pair * p.FrequencyExponent);
            angle -= 6.28318530717958648f * XMath.Round(angle * 0.159154943091895336f);
            float cos = XMath.Cos(angle), sin = XMath.Sin(angle);
            float rotatedA = a * cos - b * sin, rotatedB = b * cos + a * sin;
            if (head < p.QueryHeads)
            {
                target = p.Query;
                origin = p.QueryStrides.Origin(batch, head) + position * p.QueryStrides.Row;
                rotatedA *= p.QueryScale;
                rotatedB *= p.QueryScale;
            }
            else
            {
                target = p.Key;
                origin = p.KeyStrides.Origin(batch, head - p.QueryHeads) + position * p.KeyStrides.Row;
            }
            a = rotatedA;
            b = rotatedB;
        }
        else
        {
            target = p.Value;
            origin = p.KeyStrides.Origin(batch, head - p.QueryHeads - p.KeyValueHeads) + position * p.KeyStrides.Row;
        }
        target[origin + first] = codec.FromFloat(a);
        target[origin + second] = codec.FromFloat(b);
    }

    /// <summary>Threads a launch needs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Threads(long tokens, int heads, int headDim) => tokens * heads * (headDim / 2);
}
