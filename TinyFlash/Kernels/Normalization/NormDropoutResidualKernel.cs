using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// <c>y = Norm(dropout(x + bias) + residual)</c>, LayerNorm (γ, β) or RMSNorm (γ), one group per row:
/// <code>
/// pass 1   s = dropout(x + bias) + residual, element by element (thread t takes columns t, t + G, …); write s if
///          asked (the next layer's residual); each thread folds its elements into (count, mean, M2) (Welford)
/// reduce   the group merges the threads' triples through shared memory (Chan et al.), a tree of log₂ G barriers:
///          mean, and rstd = 1/√(M2/n + ε)  (RMSNorm: rstd = 1/√(Σs²/n + ε), mean 0)
/// pass 2   s again (regenerated, not stored: the row is re-read from cache), y = (s − mean)·rstd·γ + β
/// </code>
/// Dropout keeps an element when its Philox uniform (stream seed/offset, index row·Hidden + column) is at least p,
/// and scales it by 1/(1 − p); the backward regenerates the same mask. Statistics are fp32 whatever the storage.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class NormDropoutResidualKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Most threads a group (the shared arrays' size).</summary>
    public const int MaxThreads = 1024;

    /// <summary>Entry point: one group of a power-of-two size per row.</summary>
    public static void Run(NormParams<T> p)
    {
        var counts = SharedMemory.Allocate<float>(MaxThreads);
        var means = SharedMemory.Allocate<float>(MaxThreads);
        var squares = SharedMemory.Allocate<float>(MaxThreads);
        int row = Grid.IdxX, thread = Group.IdxX, threads = Group.DimX;
        int origin = row * p.Hidden;

        float count = 0f, mean = 0f, m2 = 0f;
        for (int column = thread; column < p.Hidden; column += threads)
        {
            float s = PreNormSum(p, origin, column);
            if (p.Sum.Length > 0)
                p.Sum[origin + column] = default(TCodec).FromFloat(s);
            if (p.Rms != 0)
            {
                count += 1f;
                m2 += s * s;
            }
            else
            {
                count += 1f;
                float delta = s - mean;
                mean += delta / count;
                m2 += delta * (s - mean);
            }
        }
        counts[thread] = count;
        means[thread] = mean;
        squares[thread] = m2;
        for (int stride = threads / 2; stride > 0; stride /= 2)
        {
            Group.Barrier();
            if (thread < stride)
                Merge(counts, means, squares, thread, thread + stride);
        }
        Group.Barrier();
        float n = counts[0];
        float rowMean = p.Rms != 0 ? 0f : means[0];
        float rstd = XMath.Rsqrt(squares[0] / n + p.Epsilon);
        if (thread == 0)
        {
            if (p.Mean.Length > 0)
                p.Mean[row] = rowMean;
            if (p.Rstd.Length > 0)
                p.Rstd[row] = rstd;
        }

        TCodec codec = default;
        for (int column = thread; column < p.Hidden; column += threads)
        {
            float normalised = (PreNormSum(p, origin, column) - rowMean) * rstd * codec.ToFloat(p.Gamma[column]);
            if (p.Beta.Length > 0)
                normalised += codec.ToFloat(p.Beta[column]);
            p.Output[origin + column] = codec.FromFloat(normalised);
        }
    }

    /// <summary>dropout(x + bias) + residual of one element, in fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float PreNormSum(in NormParams<T> p, int origin, int column)
    {
        TCodec codec = default;
        float value = codec.ToFloat(p.X[origin + column]);
        if (p.Bias.Length > 0)
            value += codec.ToFloat(p.Bias[column]);
        if (p.DropoutProbability > 0f)
            value = Philox.Uniform(p.Seed, p.Offset, (long)origin + column) >= p.DropoutProbability ? value * p.KeepScale : 0f;
        if (p.Residual.Length > 0)
            value += codec.ToFloat(p.Residual[origin + column]);
        return value;
    }

    /// <summary>Folds thread <paramref name="other"/>'s (count, mean, M2) into <paramref name="into"/>'s (Chan et al.'s parallel update).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Merge(ArrayView<float> counts, ArrayView<float> means, ArrayView<float> squares, int into, int other)
    {
        float na = counts[into], nb = counts[other];
        float n = na + nb;
        if (nb == 0f)
            return;
        float delta = means[other] - means[into];
        means[into] += delta * (nb / n);
        squares[into] += squares[other] + delta * delta * (na * nb / n);
        counts[into] = n;
    }
}
