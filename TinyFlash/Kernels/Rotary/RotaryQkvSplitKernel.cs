using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Rotary;

/// <summary>
/// Rotary position embeddings applied while a packed QKV projection is split into q, k and v in the attention layout:
/// one read and one write of every element. One thread per (token, head, four feature pairs d/8 apart): for q and k heads
/// <code>
///   angle = position · 2^(i·FrequencyExponent)  (fp32, as Hugging Face and FlashAttention compute it), reduced to [−π, π]
///   (a, b) → (a·cos − b·sin, b·cos + a·sin)      (a, b) = features (i, i + d/2), or (2i, 2i + 1) interleaved
/// </code>
/// q is also multiplied by QueryScale; v heads are copied. Consecutive threads take consecutive pairs of a head at each
/// of their four steps, so every read and write of a warp is contiguous in both conventions.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class RotaryQkvSplitKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Feature pairs a thread rotates: the index arithmetic of a thread is paid once for all of them.</summary>
    public const int PairsPerThread = 4;

    /// <summary>
    /// Entry point: one thread per (batch, position, head of Hq + 2·Hkv, run r of d/2 pairs): the thread rotates pairs
    /// r, r + R, r + 2R, … (R = d/2 / <see cref="PairsPerThread"/> runs a head), so that a warp's accesses at each step
    /// are contiguous.
    /// </summary>
    public static void Run(RotaryParams<T> p)
    {
        int pairs = p.HeadDim / 2, heads = p.QueryHeads + 2 * p.KeyValueHeads;
        int runs = (pairs + PairsPerThread - 1) / PairsPerThread;
        int index = Grid.GlobalIndex.X;
        int token = index / (heads * runs);
        if (token >= p.Qkv.IntLength / (heads * p.HeadDim))
            return;
        int rest = index - token * heads * runs;
        int head = rest / runs, run = rest - head * runs;
        int batch = token / p.Sequence, position = token - batch * p.Sequence;
        int source = (token * heads + head) * p.HeadDim;

        ArrayView<T> target;
        int origin;
        float scale = 1f;
        bool rotate = head < p.QueryHeads + p.KeyValueHeads;
        if (head < p.QueryHeads)
        {
            target = p.Query;
            origin = p.QueryStrides.Origin(batch, head) + position * p.QueryStrides.Row;
            scale = p.QueryScale;
        }
        else if (rotate)
        {
            target = p.Key;
            origin = p.KeyStrides.Origin(batch, head - p.QueryHeads) + position * p.KeyStrides.Row;
        }
        else
        {
            target = p.Value;
            origin = p.KeyStrides.Origin(batch, head - p.QueryHeads - p.KeyValueHeads) + position * p.KeyStrides.Row;
        }
        float absolute = position + (p.PositionOffsets.Length > 0 ? p.PositionOffsets[batch] : 0);

        TCodec codec = default;
        for (int pair = run; pair < pairs; pair += runs)
        {
            int first = p.Interleaved != 0 ? 2 * pair : pair;
            int second = p.Interleaved != 0 ? 2 * pair + 1 : pair + pairs;
            float a = codec.ToFloat(p.Qkv[source + first]), b = codec.ToFloat(p.Qkv[source + second]);
            if (rotate)
            {
                float angle = absolute * XMath.Exp2(pair * p.FrequencyExponent);
                angle -= 6.28318530717958648f * XMath.Round(angle * 0.159154943091895336f);
                float cos = XMath.Cos(angle), sin = XMath.Sin(angle);
                float rotatedA = (a * cos - b * sin) * scale, rotatedB = (b * cos + a * sin) * scale;
                a = rotatedA;
                b = rotatedB;
            }
            target[origin + first] = codec.FromFloat(a);
            target[origin + second] = codec.FromFloat(b);
        }
    }

    /// <summary>Threads a launch needs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Threads(long tokens, int heads, int headDim) => tokens * heads * ((headDim / 2 + PairsPerThread - 1) / PairsPerThread);
}
