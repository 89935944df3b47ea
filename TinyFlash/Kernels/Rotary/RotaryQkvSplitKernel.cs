using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Rotary;

/// <summary>
/// Rotary position embeddings applied while a packed QKV projection is split into q, k and v in the attention layout:
/// one read and one write of every element. One group a token, its threads (run, lane): thread (r, l) takes the run
/// of four consecutive feature pairs 4r … 4r + 3 of heads l, l + L, l + 2L, … (L = the group's lanes), so that the
/// angles, the same for every head of a token, are computed once a thread:
/// <code>
///   angle = position · 2^(i·FrequencyExponent)  (fp32, as Hugging Face and FlashAttention compute it), reduced to [−π, π]
///   (a, b) → (a·cos − b·sin, b·cos + a·sin)      (a, b) = features (i, i + d/2), or (2i, 2i + 1) interleaved
/// </code>
/// q is also multiplied by QueryScale; v heads are copied. A run's features are two quads of consecutive elements (half
/// split: 4r … 4r + 3 and d/2 + 4r …; interleaved: 8r … 8r + 7), each one vector load and store where the views are
/// aligned (every supported head dim is a multiple of 8, so runs never straddle a head), and consecutive threads take
/// consecutive runs: a warp's accesses are contiguous in both conventions. The launch's grid and group shape hold the
/// token, run and lane, so that a thread divides once (the token into batch and position).
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class RotaryQkvSplitKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Feature pairs a thread rotates: two quads of elements.</summary>
    public const int PairsPerThread = 4;

    /// <summary>Entry point: a group of (d/2/<see cref="PairsPerThread"/> runs, lanes) per token (batch · sequence).</summary>
    public static void Run(RotaryParams<T> p)
    {
        int pairs = p.HeadDim / 2, heads = p.QueryHeads + 2 * p.KeyValueHeads;
        int token = Grid.IdxX, run = Group.IdxX;
        int batch = token / p.Sequence, position = token - batch * p.Sequence;
        int source = token * heads * p.HeadDim;
        bool interleaved = p.Interleaved != 0, whole = p.WholeQuads != 0;
        int first = interleaved ? 8 * run : 4 * run, second = interleaved ? first + 4 : first + pairs;
        var turns = new Turns(position + (p.PositionOffsets.Length > 0 ? p.PositionOffsets[batch] : 0), p.FrequencyExponent, 4 * run);

        for (int head = Group.IdxY; head < heads; head += Group.DimY)
        {
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
            int from = source + head * p.HeadDim;
            Float4 low = ElementQuads.Read<T, TCodec>(p.Qkv, from + first, 4, whole);
            Float4 high = ElementQuads.Read<T, TCodec>(p.Qkv, from + second, 4, whole);
            if (rotate)
            {
                if (interleaved)
                {
                    Turns.Turn(ref low.X, ref low.Y, turns.Cos0, turns.Sin0, scale);
                    Turns.Turn(ref low.Z, ref low.W, turns.Cos1, turns.Sin1, scale);
                    Turns.Turn(ref high.X, ref high.Y, turns.Cos2, turns.Sin2, scale);
                    Turns.Turn(ref high.Z, ref high.W, turns.Cos3, turns.Sin3, scale);
                }
                else
                {
                    Turns.Turn(ref low.X, ref high.X, turns.Cos0, turns.Sin0, scale);
                    Turns.Turn(ref low.Y, ref high.Y, turns.Cos1, turns.Sin1, scale);
                    Turns.Turn(ref low.Z, ref high.Z, turns.Cos2, turns.Sin2, scale);
                    Turns.Turn(ref low.W, ref high.W, turns.Cos3, turns.Sin3, scale);
                }
            }
            ElementQuads.Write<T, TCodec>(target, origin + first, 4, low, whole);
            ElementQuads.Write<T, TCodec>(target, origin + second, 4, high, whole);
        }
    }

    /// <summary>
    /// The launch: one group a token, of (runs, lanes) threads: runs = d/2/<see cref="PairsPerThread"/>, lanes the heads
    /// taken at once, about <paramref name="threadsWanted"/> threads a group in all and no more than
    /// <paramref name="maxThreads"/> or the heads.
    /// </summary>
    public static KernelConfig Launch(long tokens, int heads, int headDim, int threadsWanted, int maxThreads)
    {
        int runs = headDim / 2 / PairsPerThread;
        int lanes = Math.Clamp(Math.Min(threadsWanted, maxThreads) / runs, 1, heads);
        return new KernelConfig(new Index2D(checked((int)tokens), 1), new Index2D(runs, lanes));
    }

    /// <summary>The cosines and sines of a token's four pairs 4r … 4r + 3, shared by its heads.</summary>
    private readonly struct Turns
    {
        public readonly float Cos0, Sin0, Cos1, Sin1, Cos2, Sin2, Cos3, Sin3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Turns(float position, float frequencyExponent, int pair)
        {
            (Cos0, Sin0) = Angle(position, frequencyExponent, pair);
            (Cos1, Sin1) = Angle(position, frequencyExponent, pair + 1);
            (Cos2, Sin2) = Angle(position, frequencyExponent, pair + 2);
            (Cos3, Sin3) = Angle(position, frequencyExponent, pair + 3);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static (float Cos, float Sin) Angle(float position, float frequencyExponent, int pair)
        {
            float angle = position * XMath.Exp2(pair * frequencyExponent);
            angle -= 6.28318530717958648f * XMath.Round(angle * 0.159154943091895336f);
            return (XMath.Cos(angle), XMath.Sin(angle));
        }

        /// <summary>Turns pair (<paramref name="a"/>, <paramref name="b"/>) by the angle of (cos, sin), and scales it.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Turn(ref float a, ref float b, float cos, float sin, float scale)
        {
            float turnedA = (a * cos - b * sin) * scale;
            b = (b * cos + a * sin) * scale;
            a = turnedA;
        }
    }
}
