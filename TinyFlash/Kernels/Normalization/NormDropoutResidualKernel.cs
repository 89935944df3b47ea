using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// <c>y = Norm(dropout(x + bias) + residual)</c>, LayerNorm (γ, β) or RMSNorm (γ), one group of G threads a row, each
/// thread holding K quads of four consecutive features in registers (<typeparamref name="TQuads"/> of
/// <see cref="NormQuad{T}"/>; four features a Philox call, <see cref="PreNormQuad"/>). A chunk is the 4·K·G features the
/// group holds at once, thread t's quads at features 4t + j·4G (j &lt; K); the planner makes a row one chunk up to
/// 4·8·1024 features, and an exact one (<typeparamref name="TLayout"/>: hidden = 4·K·G, aligned views) wherever G can be
/// a whole number of warps:
/// <code>
/// per chunk   every quad's x, residual and bias read, then s = dropout(x + bias) + residual into registers (write s
///             if asked: the next layer's residual)
///             the thread's moments over its features: count, mean, then M2 = Σ(s − mean)², two passes over
///             registers (RMSNorm: mean 0, M2 = Σs²); the group merges them in one reduction (Chan et al.'s
///             update, <see cref="RowMoments"/>), and the chunks merge the same way
/// stats       rstd = 1/√(M2/n + ε)
/// output      every quad's γ and β read, then y = (s − mean)·rstd·γ + β from the registers (a row of several
///             chunks recomputes the earlier ones: x, residual and bias read again, the mask drawn again)
/// </code>
/// Unlike the backward, the forward does not stream its rows through shared-memory stages: a group a row with every
/// quad's loads in flight at once measured faster (H100, 2026-12-07: 2.41 against 1.95 TB/s in fp16).
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
    where TQuads : struct, IRowQuads<NormQuad<T>>
    where TSum : struct, IRowSum
    where TLayout : struct, IRowLayout
{
    /// <summary>Entry point: one group a row.</summary>
    public static void Run(NormParams<T> p)
    {
        var scratch = SharedMemory.Allocate<float>(default(TSum).ScratchFloats);
        bool exact = default(TLayout).Exact;
        int row = Grid.IdxX, stride = 4 * Group.DimX, first = 4 * Group.IdxX, origin = row * p.Hidden;
        int chunk = default(TQuads).Quads * stride, chunks = exact ? 1 : (p.Hidden + chunk - 1) / chunk;
        TSum sums = default;
        TQuads quads = default;
        var moments = default(RowMoments);
        for (int c = 0; c < chunks; c++)
        {
            var local = LoadChunk(ref quads, p, origin, c * chunk + first, stride, writeSum: true);
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

        for (int c = 0; !exact && c < chunks - 1; c++) // (!exact: ILGPU keeps a loop whose bound folds to 0)
        {
            TQuads earlier = default;
            LoadChunk(ref earlier, p, origin, c * chunk + first, stride, writeSum: false);
            NormaliseChunk(ref earlier, p, origin, mean, rstd, c * chunk + first, stride);
        }
        NormaliseChunk(ref quads, p, origin, mean, rstd, (chunks - 1) * chunk + first, stride);
    }

    /// <summary>
    /// The pre-norm sums of the chunk from <paramref name="column"/> into <paramref name="quads"/> (every quad's inputs
    /// read first, dropout tested once for all of them), s written if asked and <paramref name="writeSum"/>; the
    /// thread's count and mean.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static RowMoments LoadChunk(ref TQuads quads, in NormParams<T> p, int origin, int column, int stride, bool writeSum)
    {
        var fetch = new FetchInputs { P = p, Origin = origin };
        quads.ForEach(ref fetch, column, stride);
        var load = new Load { P = p, Origin = origin };
        if (p.DropoutProbability > 0f)
        {
            load.Dropout = true;
            quads.ForEach(ref load, column, stride);
        }
        else
            quads.ForEach(ref load, column, stride);
        if (writeSum && p.Sum.Length > 0)
        {
            var write = new WriteSum { P = p, Origin = origin };
            quads.ForEach(ref write, column, stride);
        }
        return new RowMoments { Count = load.Count, Mean = p.Rms == 0 ? load.Total / XMath.Max(load.Count, 1f) : 0f };
    }

    /// <summary>The output of the chunk from <paramref name="column"/> (every quad's γ and β fetched first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NormaliseChunk(ref TQuads quads, in NormParams<T> p, int origin, float mean, float rstd, int column, int stride)
    {
        var fetch = new FetchWeights { P = p };
        quads.ForEach(ref fetch, column, stride);
        var normalise = new Normalise { P = p, Origin = origin, Mean = mean, Rstd = rstd };
        quads.ForEach(ref normalise, column, stride);
    }

    /// <summary>x, residual and bias as stored.</summary>
    private struct FetchInputs : IQuadStep<NormQuad<T>>
    {
        public NormParams<T> P;
        public int Origin;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref NormQuad<T> quad, int column) =>
            quad.Inputs = PreNormInputs<T>.Fetch<TLayout, DirectRows<T>>(P, default, 0, 0, Origin, column, 0);
    }

    /// <summary>The pre-norm sums into registers (0 past the row's end), their count inside the row and total.</summary>
    private struct Load : IQuadStep<NormQuad<T>>
    {
        public NormParams<T> P;
        public int Origin;

        /// <summary>p &gt; 0, a constant in each of the two places the step is applied.</summary>
        public bool Dropout;

        public float Count, Total;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref NormQuad<T> quad, int column)
        {
            int left = default(TLayout).Left(P.Hidden, column);
            quad.Sum = left > 0 ? PreNormQuad.From<T, TCodec, TLayout>(P, quad.Inputs, Origin, column, Dropout).Sum : default;
            Count += XMath.Clamp(left, 0, 4);
            Total += quad.Sum.SumLanes();
        }
    }

    /// <summary>s written: the next layer's residual.</summary>
    private struct WriteSum : IQuadStep<NormQuad<T>>
    {
        public NormParams<T> P;
        public int Origin;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref NormQuad<T> quad, int column)
        {
            TLayout layout = default;
            int left = layout.Left(P.Hidden, column);
            if (left > 0)
                ElementQuads.Write<T, TCodec>(P.Sum, Origin + column, left, quad.Sum, layout.Whole(P.WholeQuads));
        }
    }

    /// <summary>Σ(s − mean)² over the features inside the row (RMSNorm: mean 0, Σs²).</summary>
    private struct Deviation : IQuadStep<NormQuad<T>>
    {
        public float Mean, Squares;
        public int Hidden;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref NormQuad<T> quad, int column)
        {
            var centred = quad.Sum.Add(Float4.Broadcast(-Mean));
            if (!default(TLayout).Exact)
                centred = centred.Multiply(PreNormQuad.InsideOf(Hidden - column));
            Squares += centred.Dot(centred);
        }
    }

    /// <summary>γ and β as stored (an absent β: a row of zeros).</summary>
    private struct FetchWeights : IQuadStep<NormQuad<T>>
    {
        public NormParams<T> P;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref NormQuad<T> quad, int column)
        {
            TLayout layout = default;
            int left = layout.Left(P.Hidden, column);
            bool whole = layout.Whole(P.WholeQuads);
            quad.Gamma = ElementQuads.Fetch(P.Gamma, column, left, whole);
            quad.Beta = ElementQuads.Fetch(P.Beta, column, left, whole);
        }
    }

    /// <summary>y = (s − mean)·rstd·γ + β, written for the features inside the row.</summary>
    private struct Normalise : IQuadStep<NormQuad<T>>
    {
        public NormParams<T> P;
        public int Origin;
        public float Mean, Rstd;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref NormQuad<T> quad, int column)
        {
            TLayout layout = default;
            int left = layout.Left(P.Hidden, column);
            if (left <= 0)
                return;
            // x̂·γ + β, one fused multiply-add an element
            var y = quad.Sum.Add(Float4.Broadcast(-Mean)).Multiply(Rstd)
                .TimesPlus(ElementQuads.ToFloat<T, TCodec>(quad.Gamma), ElementQuads.ToFloat<T, TCodec>(quad.Beta));
            ElementQuads.Write<T, TCodec>(P.Output, Origin + column, left, y, layout.Whole(P.WholeQuads));
        }
    }
}
