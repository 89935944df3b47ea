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
/// features 4t + j·4G (j &lt; K); the planner makes a row one chunk up to 4·8·1024 features, and an exact one
/// (<typeparamref name="TLayout"/>: hidden = 4·K·G, aligned views) wherever G can be a whole number of warps:
/// <code>
/// per chunk   s = dropout(x + bias) + residual into registers (write s if asked: the next layer's residual)
///             the thread's moments over its features: count, mean, then M2 = Σ(s − mean)², two passes over
///             registers (RMSNorm: mean 0, M2 = Σs²); the group merges them in one reduction (Chan et al.'s
///             update, <see cref="RowMoments"/>), and the chunks merge the same way
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
/// <typeparam name="TSum">How the group reduces (warp shuffles, or a shared-memory tree on OpenCL).</typeparam>
/// <typeparam name="TLayout">Whether the row is exact (no bounds checks compiled) or checked.</typeparam>
internal static class NormDropoutResidualKernel<T, TCodec, TQuads, TSum, TLayout>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
    where TQuads : struct, IRowQuads<Float4>
    where TSum : struct, IRowSum
    where TLayout : struct, IRowLayout
{
    /// <summary>Entry point: one group a row.</summary>
    public static void Run(NormParams<T> p)
    {
        var scratch = SharedMemory.Allocate<float>(default(TSum).ScratchFloats);
        bool exact = default(TLayout).Exact;
        int row = Grid.IdxX, threads = Group.DimX;
        int origin = row * p.Hidden, stride = 4 * threads, first = 4 * Group.IdxX;
        int chunk = default(TQuads).Quads * stride, chunks = exact ? 1 : (p.Hidden + chunk - 1) / chunk;
        TSum sums = default;

        TQuads quads = default;
        var moments = default(RowMoments);
        for (int c = 0; c < chunks; c++)
        {
            var load = new Load { P = p, Origin = origin, WriteSum = p.Sum.Length > 0 };
            quads.ForEach(ref load, c * chunk + first, stride);
            var local = new RowMoments { Count = load.Count, Mean = p.Rms == 0 ? load.Total / XMath.Max(load.Count, 1f) : 0f };
            var deviation = new Deviation { Mean = local.Mean, Hidden = p.Hidden };
            quads.ForEach(ref deviation, c * chunk + first, stride);
            local.M2 = deviation.Squares;
            moments = RowMoments.Combine(moments, sums.Moments(local, scratch, c & 1, equalCounts: exact));
        }
        float mean = moments.Mean, rstd = XMath.Rsqrt(moments.M2 / moments.Count + p.Epsilon);
        if (Group.IdxX == 0)
        {
            if (p.Mean.Length > 0)
                p.Mean[row] = mean;
            if (p.Rstd.Length > 0)
                p.Rstd[row] = rstd;
        }

        var normalise = new Normalise { P = p, Origin = origin, Mean = mean, Rstd = rstd };
        for (int c = 0; !exact && c < chunks - 1; c++) // (!exact: ILGPU keeps a loop whose bound folds to 0)
        {
            TQuads earlier = default;
            var reload = new Load { P = p, Origin = origin };
            earlier.ForEach(ref reload, c * chunk + first, stride);
            earlier.ForEach(ref normalise, c * chunk + first, stride);
        }
        quads.ForEach(ref normalise, (chunks - 1) * chunk + first, stride);
    }

    /// <summary>
    /// The pre-norm sums into registers (0 past the row's end), their count inside the row and total; s written if
    /// asked.
    /// </summary>
    private struct Load : IQuadStep<Float4>
    {
        public NormParams<T> P;
        public int Origin;
        public bool WriteSum;
        public float Count, Total;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref Float4 sum, int column)
        {
            TLayout layout = default;
            int left = layout.Left(P.Hidden, column);
            sum = left > 0 ? PreNormQuad.Load<T, TCodec, TLayout>(P, Origin, column).Sum : default;
            if (WriteSum && left > 0)
                ElementQuads.Write<T, TCodec>(P.Sum, Origin + column, left, sum, layout.Whole(P.WholeQuads));
            Count += XMath.Clamp(left, 0, 4);
            Total += sum.SumLanes();
        }
    }

    /// <summary>Σ(s − mean)² over the features inside the row (RMSNorm: mean 0, Σs²).</summary>
    private struct Deviation : IQuadStep<Float4>
    {
        public float Mean, Squares;
        public int Hidden;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref Float4 sum, int column)
        {
            var centred = sum.Add(Float4.Broadcast(-Mean));
            if (!default(TLayout).Exact)
                centred = centred.Multiply(PreNormQuad.InsideOf(Hidden - column));
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
            TLayout layout = default;
            int left = layout.Left(P.Hidden, column);
            if (left <= 0)
                return;
            bool whole = layout.Whole(P.WholeQuads);
            // x̂·γ + β, one fused multiply-add an element (β 0 when absent)
            var beta = P.Beta.Length > 0 ? ElementQuads.Read<T, TCodec>(P.Beta, column, left, whole) : default;
            var y = sum.Add(Float4.Broadcast(-Mean)).Multiply(Rstd).TimesPlus(ElementQuads.Read<T, TCodec>(P.Gamma, column, left, whole), beta);
            ElementQuads.Write<T, TCodec>(P.Output, Origin + column, left, y, whole);
        }
    }
}
