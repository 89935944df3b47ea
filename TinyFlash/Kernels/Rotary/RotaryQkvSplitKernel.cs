using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Rotary;

/// <summary>
/// Rotary position embeddings applied while a packed QKV projection is split into q, k and v in the attention layout:
/// one read and one write of every element. One thread per (token, head, run of four consecutive feature pairs
/// 4r … 4r + 3): for q and k heads
/// <code>
///   angle = position · 2^(i·FrequencyExponent)  (fp32, as Hugging Face and FlashAttention compute it), reduced to [−π, π]
///   (a, b) → (a·cos − b·sin, b·cos + a·sin)      (a, b) = features (i, i + d/2), or (2i, 2i + 1) interleaved
/// </code>
/// q is also multiplied by QueryScale; v heads are copied. A run's features are two quads of consecutive elements (half
/// split: 4r … 4r + 3 and d/2 + 4r …; interleaved: 8r … 8r + 7), each one vector load and store where the views are
/// aligned (every supported head dim is a multiple of 8, so runs never straddle a head), and consecutive threads take
/// consecutive runs: a warp's accesses are contiguous in both conventions.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class RotaryQkvSplitKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Feature pairs a thread rotates: two quads of elements.</summary>
    public const int PairsPerThread = 4;

    /// <summary>Entry point: one thread per (batch, position, head of Hq + 2·Hkv, run of <see cref="PairsPerThread"/> pairs).</summary>
    public static void Run(RotaryParams<T> p)
    {
        int pairs = p.HeadDim / 2, heads = p.QueryHeads + 2 * p.KeyValueHeads;
        int runs = pairs / PairsPerThread;
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

        // The run's two quads: (a0..a3) and (b0..b3) half split, (a0 b0 a1 b1) and (a2 b2 a3 b3) interleaved.
        bool interleaved = p.Interleaved != 0, whole = p.WholeQuads != 0;
        int first = interleaved ? 8 * run : 4 * run, second = interleaved ? first + 4 : first + pairs;
        Float4 low = ElementQuads.Read<T, TCodec>(p.Qkv, source + first, 4, whole);
        Float4 high = ElementQuads.Read<T, TCodec>(p.Qkv, source + second, 4, whole);
        if (rotate)
        {
            var rotation = new Rotation
            {
                Position = position + (p.PositionOffsets.Length > 0 ? p.PositionOffsets[batch] : 0),
                FrequencyExponent = p.FrequencyExponent,
                Scale = scale,
            };
            int pair = 4 * run;
            if (interleaved)
            {
                rotation.Turn(ref low.X, ref low.Y, pair);
                rotation.Turn(ref low.Z, ref low.W, pair + 1);
                rotation.Turn(ref high.X, ref high.Y, pair + 2);
                rotation.Turn(ref high.Z, ref high.W, pair + 3);
            }
            else
            {
                rotation.Turn(ref low.X, ref high.X, pair);
                rotation.Turn(ref low.Y, ref high.Y, pair + 1);
                rotation.Turn(ref low.Z, ref high.Z, pair + 2);
                rotation.Turn(ref low.W, ref high.W, pair + 3);
            }
        }
        ElementQuads.Write<T, TCodec>(target, origin + first, 4, low, whole);
        ElementQuads.Write<T, TCodec>(target, origin + second, 4, high, whole);
    }

    /// <summary>Threads a launch needs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Threads(long tokens, int heads, int headDim) => tokens * heads * (headDim / 2 / PairsPerThread);

    /// <summary>The rotation of one token's pairs.</summary>
    private struct Rotation
    {
        public float Position, FrequencyExponent, Scale;

        /// <summary>Turns pair (<paramref name="a"/>, <paramref name="b"/>), index <paramref name="pair"/> of its head, and scales it.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Turn(ref float a, ref float b, int pair)
        {
            float angle = Position * XMath.Exp2(pair * FrequencyExponent);
            angle -= 6.28318530717958648f * XMath.Round(angle * 0.159154943091895336f);
            float cos = XMath.Cos(angle), sin = XMath.Sin(angle);
            float turnedA = (a * cos - b * sin) * Scale;
            b = (b * cos + a * sin) * Scale;
            a = turnedA;
        }
    }
}
