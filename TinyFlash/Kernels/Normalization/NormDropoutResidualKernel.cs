using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// <c>y = Norm(dropout(x + bias) + residual)</c>, LayerNorm (γ, β) or RMSNorm (γ), one group per row, in quads of four
/// consecutive features (<see cref="PreNormQuad"/>: four features a Philox call):
/// <code>
/// pass 1   s = dropout(x + bias) + residual, a quad at a time (thread t takes features 4t … 4t + 3, then 4(t + G) …);
///          write s if asked (the next layer's residual); each quad's (count, mean, M2) is folded into the thread's
///          (Chan et al.'s update: one division a quad)
/// reduce   the group merges the threads' triples through shared memory, a tree of log₂ G barriers:
///          mean, and rstd = 1/√(M2/n + ε)  (RMSNorm: rstd = 1/√(Σs²/n + ε), mean 0)
/// pass 2   s again: from shared memory where pass 1 stashed it (rows of up to StashedFeatures), else recomputed
///          (x, residual and bias read again, the mask drawn again), y = (s − mean)·rstd·γ + β
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

    /// <summary>
    /// Longest row whose pre-norm sums the forward keeps in shared memory between its passes (32 KiB in fp32): beyond,
    /// the shared memory would cost resident groups.
    /// </summary>
    public const int StashedFeatures = 8192;

    /// <summary>Entry point: one group of a power-of-two size per row.</summary>
    public static void Run(NormParams<T> p)
    {
        var counts = SharedMemory.Allocate<float>(MaxThreads);
        var means = SharedMemory.Allocate<float>(MaxThreads);
        var squares = SharedMemory.Allocate<float>(MaxThreads);
        var stash = SharedMemory.GetDynamic<float>().Cast<Float4>(); // GetDynamic of a struct breaks OpenCL's C
        int row = Grid.IdxX, thread = Group.IdxX, threads = Group.DimX;
        int origin = row * p.Hidden;
        bool whole = p.WholeQuads != 0;

        float count = 0f, mean = 0f, m2 = 0f;
        for (int column = 4 * thread; column < p.Hidden; column += 4 * threads)
        {
            var quad = PreNormQuad.Load<T, TCodec>(p, origin, column);
            if (p.StashRow != 0)
                stash[column / 4] = quad.Sum;
            if (p.Sum.Length > 0)
                PreNormQuad.Write<T, TCodec>(p.Sum, origin + column, p.Hidden - column, quad.Sum, whole);
            float n = quad.Count;
            if (p.Rms != 0)
                m2 += quad.Sum.Dot(quad.Sum);
            else
            {
                float quadMean = quad.Sum.SumLanes() / n;
                var centred = quad.Sum.Add(Float4.Broadcast(-quadMean)).Multiply(quad.Inside);
                float share = n / (count + n);
                float delta = quadMean - mean;
                mean += delta * share;
                m2 += centred.Dot(centred) + delta * delta * count * share;
            }
            count += n;
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
        float rowMean = p.Rms != 0 ? 0f : means[0];
        float rstd = XMath.Rsqrt(squares[0] / counts[0] + p.Epsilon);
        if (thread == 0)
        {
            if (p.Mean.Length > 0)
                p.Mean[row] = rowMean;
            if (p.Rstd.Length > 0)
                p.Rstd[row] = rstd;
        }

        for (int column = 4 * thread; column < p.Hidden; column += 4 * threads)
        {
            int left = p.Hidden - column;
            var sum = p.StashRow != 0 ? stash[column / 4] : PreNormQuad.Load<T, TCodec>(p, origin, column).Sum;
            var normalised = sum.Add(Float4.Broadcast(-rowMean)).Multiply(rstd).Multiply(PreNormQuad.Read<T, TCodec>(p.Gamma, column, left, whole));
            if (p.Beta.Length > 0)
                normalised = normalised.Add(PreNormQuad.Read<T, TCodec>(p.Beta, column, left, whole));
            PreNormQuad.Write<T, TCodec>(p.Output, origin + column, left, normalised, whole);
        }
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
