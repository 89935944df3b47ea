using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// <c>y = Norm(dropout(x + bias) + residual)</c>, LayerNorm (γ, β) or RMSNorm (γ), one group of G threads a row, each
/// thread holding K quads of four consecutive features in registers (<typeparamref name="TQuads"/>; four features a
/// Philox call, <see cref="PreNormQuad"/>). A chunk is the 4·K·G features the group holds at once, thread t's quads at
/// features 4t + j·4G (j &lt; K); the planner makes a row one chunk up to 4·8·1024 features:
/// <code>
/// per chunk   s = dropout(x + bias) + residual into registers (write s if asked: the next layer's residual)
///             chunk mean m_c = Σs / n_c (a group sum), then M2_c = Σ(s − m_c)² (a second sum): two passes over
///             registers, exact; chunks merge by Chan et al.'s update (RMSNorm: M2 = Σs², mean 0)
/// stats       rstd = 1/√(M2/n + ε)
/// output      y = (s − mean)·rstd·γ + β from the registers (a row of several chunks recomputes the earlier ones:
///             x, residual and bias read again, the mask drawn again)
/// </code>
/// Dropout keeps an element when its Philox uniform (stream seed/offset, index row·Hidden + column) is at least p,
/// and scales it by 1/(1 − p); the backward regenerates the same mask. Statistics are fp32 whatever the storage.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
/// <typeparam name="TQuads">The quads a thread holds (K).</typeparam>
/// <typeparam name="TSum">How the group sums (warp shuffles, or a shared-memory tree on OpenCL).</typeparam>
internal static class NormDropoutResidualKernel<T, TCodec, TQuads, TSum>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
    where TQuads : struct, IRowQuads<Float4>
    where TSum : struct, IRowSum
{
    /// <summary>Entry point: one group of a power-of-two size per row.</summary>
    public static void Run(NormParams<T> p)
    {
        var scratch = SharedMemory.Allocate<float>(default(TSum).ScratchFloats);
        int row = Grid.IdxX, threads = Group.DimX;
        int origin = row * p.Hidden, stride = 4 * threads, first = 4 * Group.IdxX;
        int chunk = default(TQuads).Quads * stride, chunks = (p.Hidden + chunk - 1) / chunk;
        TSum sums = default;
        int buffer = 0;

        TQuads quads = default;
        float count = 0f, mean = 0f, m2 = 0f;
        for (int c = 0; c < chunks; c++)
        {
            var load = new Load { P = p, Origin = origin, WriteSum = p.Sum.Length > 0 };
            quads.ForEach(ref load, c * chunk + first, stride);
            float n = XMath.Min(p.Hidden - c * chunk, chunk);
            if (p.Rms != 0)
            {
                m2 += sums.Sum(load.Squares, scratch, buffer);
                buffer ^= 1;
            }
            else
            {
                float chunkMean = sums.Sum(load.Total, scratch, buffer) / n;
                var deviation = new Deviation { Mean = chunkMean, Hidden = p.Hidden };
                quads.ForEach(ref deviation, c * chunk + first, stride);
                float chunkM2 = sums.Sum(deviation.Squares, scratch, buffer ^ 1);
                float share = n / (count + n), delta = chunkMean - mean;
                mean += delta * share;
                m2 += chunkM2 + delta * delta * count * share;
            }
            count += n;
        }
        float rstd = XMath.Rsqrt(m2 / count + p.Epsilon);
        if (Group.IdxX == 0)
        {
            if (p.Mean.Length > 0)
                p.Mean[row] = mean;
            if (p.Rstd.Length > 0)
                p.Rstd[row] = rstd;
        }

        var normalise = new Normalise { P = p, Origin = origin, Mean = mean, Rstd = rstd };
        for (int c = 0; c < chunks - 1; c++)
        {
            TQuads earlier = default;
            var reload = new Load { P = p, Origin = origin };
            earlier.ForEach(ref reload, c * chunk + first, stride);
            earlier.ForEach(ref normalise, c * chunk + first, stride);
        }
        quads.ForEach(ref normalise, (chunks - 1) * chunk + first, stride);
    }

    /// <summary>The pre-norm sums into registers (0 past the row's end), their total and sum of squares; s written if asked.</summary>
    private struct Load : IQuadStep<Float4>
    {
        public NormParams<T> P;
        public int Origin;
        public bool WriteSum;
        public float Total, Squares;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref Float4 sum, int column)
        {
            sum = column < P.Hidden ? PreNormQuad.Load<T, TCodec>(P, Origin, column).Sum : default;
            if (WriteSum && column < P.Hidden)
                ElementQuads.Write<T, TCodec>(P.Sum, Origin + column, P.Hidden - column, sum, P.WholeQuads != 0);
            Total += sum.SumLanes();
            Squares += sum.Dot(sum);
        }
    }

    /// <summary>Σ(s − mean)² over the features inside the row.</summary>
    private struct Deviation : IQuadStep<Float4>
    {
        public float Mean, Squares;
        public int Hidden;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref Float4 sum, int column)
        {
            var centred = sum.Add(Float4.Broadcast(-Mean)).Multiply(PreNormQuad.InsideOf(Hidden - column));
            Squares += centred.Dot(centred);
        }
    }

    /// <summary>y = (s − mean)·rstd·γ + β, written for the features inside the row.</summary>
    private struct Normalise : IQuadStep<Float4>
    {
        public NormParams<T> P;
        public int Origin;
        public float Mean, Rstd;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref Float4 sum, int column)
        {
            int left = P.Hidden - column;
            if (left <= 0)
                return;
            bool whole = P.WholeQuads != 0;
            var y = sum.Add(Float4.Broadcast(-Mean)).Multiply(Rstd).Multiply(ElementQuads.Read<T, TCodec>(P.Gamma, column, left, whole));
            if (P.Beta.Length > 0)
                y = y.Add(ElementQuads.Read<T, TCodec>(P.Beta, column, left, whole));
            ElementQuads.Write<T, TCodec>(P.Output, Origin + column, left, y, whole);
        }
    }
}
