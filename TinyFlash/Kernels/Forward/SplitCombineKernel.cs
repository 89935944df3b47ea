using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The second step of flash-decoding: merges the key splits of a forward pass exactly. Split s of a query row
/// saw keys K_s and wrote O_s = Σ_{j∈K_s} e^{x_j}·v_j / Σ_{j∈K_s} e^{x_j} and L_s = ln Σ_{j∈K_s} e^{x_j}
/// (−∞ if it saw none), so
/// <code>
///   L = ln Σ_s e^{L_s} = m + ln Σ_s e^{L_s − m}   (m = max_s L_s)        O = Σ_s e^{L_s − L} · O_s
/// </code>
/// A row no split saw gets zeros and L = −∞. One thread per (row, four features), reading the row's splits, which
/// lie next to each other ([row][split][feature]); the row's L_s are read by each of its threads from cache.
/// </summary>
/// <typeparam name="T">Storage element of the output.</typeparam>
/// <typeparam name="TCodec">Conversion from fp32 to the storage element.</typeparam>
internal static class SplitCombineKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Entry point: <see cref="Threads"/>(rows, head dim) threads in groups of any size.</summary>
    public static void Run(AttentionParams<T> p)
    {
        int quads = p.HeadDim / 4;
        int index = Grid.GlobalIndex.X;
        int row = index / quads;
        if (row >= p.SplitLogSumExp.IntLength / p.KeySplits)
            return;
        int feature = 4 * (index - row * quads);
        int first = row * p.KeySplits;

        float max = float.NegativeInfinity;
        for (int s = 0; s < p.KeySplits; s++)
            max = XMath.Max(max, p.SplitLogSumExp[first + s]);
        float total = 0f, x = 0f, y = 0f, z = 0f, w = 0f;
        if (max != float.NegativeInfinity)
        {
            for (int s = 0; s < p.KeySplits; s++)
            {
                float weight = XMath.Exp(p.SplitLogSumExp[first + s] - max);
                int partial = (first + s) * p.HeadDim + feature;
                total += weight;
                x += weight * p.SplitOutput[partial];
                y += weight * p.SplitOutput[partial + 1];
                z += weight * p.SplitOutput[partial + 2];
                w += weight * p.SplitOutput[partial + 3];
            }
        }
        float scale = total > 0f ? 1f / total : 0f;

        int output = p.QueryRowOrigin(row) + feature;
        TCodec codec = default;
        p.Output[output] = codec.FromFloat(x * scale);
        p.Output[output + 1] = codec.FromFloat(y * scale);
        p.Output[output + 2] = codec.FromFloat(z * scale);
        p.Output[output + 3] = codec.FromFloat(w * scale);
        if (feature == 0 && p.LogSumExp.Length > 0)
            p.LogSumExp[row] = total > 0f ? max + XMath.Log(total) : float.NegativeInfinity;
    }

    /// <summary>Threads a launch needs for <paramref name="rows"/> query rows of <paramref name="headDim"/> features.</summary>
    public static long Threads(long rows, int headDim) => rows * (headDim / 4);
}
