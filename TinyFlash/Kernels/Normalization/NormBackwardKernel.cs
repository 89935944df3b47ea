using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The backward of <see cref="NormDropoutResidualKernel{T, TCodec, TQuads, TSum, TLayout}"/>, the first of two kernels. With
/// x̂ = (s − mean)·rstd (RMSNorm: s·rstd) and g = dy·γ:
/// <code>
/// ds        = rstd·(g − mean(g) − x̂·mean(g·x̂))      (RMSNorm: rstd·(g − x̂·mean(g·x̂)))
/// dresidual = ds          dx = ds·keep/(1 − p)       (the forward's Philox mask, regenerated)
/// dγ = Σ_rows dy·x̂       dβ = Σ_rows dy             dbias = Σ_rows dx
/// </code>
/// <see cref="Rows"/>: one group of G threads per block of rows, the rows one after another, each thread holding K
/// quads of a row in registers (<typeparamref name="TQuads"/>, at features 4t + j·4G as in the forward): the pre-norm
/// sums and kept features, regenerated once a row, and the thread's per-feature sums of dγ, dβ and dbias over the
/// block's rows. Per row: the sums of g and g·x̂ in one group reduction, then the per-element gradients from the registers
/// (dy and γ read again, from cache). A row longer than a chunk (4·K·G features) recomputes its earlier chunks, and
/// its per-feature sums go to the block's slice of the partials row by row (thread t owns its features there: no two
/// threads touch one float). <see cref="FeatureGradientKernel{T, TCodec}"/> then adds the blocks' partials in a fixed
/// order: no atomics, results bit-identical from run to run.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
/// <typeparam name="TQuads">The quads a thread holds (K).</typeparam>
/// <typeparam name="TSum">How the group sums.</typeparam>
/// <typeparam name="TLayout">Whether the row is exact (one chunk of whole, aligned quads: no bounds checks compiled) or checked.</typeparam>
internal static class NormBackwardKernel<T, TCodec, TQuads, TSum, TLayout>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
    where TQuads : struct, IRowQuads<GradientQuad>
    where TSum : struct, IRowSum
    where TLayout : struct, IRowLayout
{
    /// <summary>Entry point of the row pass: one group a block of rows, a power-of-two size.</summary>
    public static void Rows(NormBackwardParams<T> p)
    {
        var scratch = SharedMemory.Allocate<float>(default(TSum).ScratchFloats);
        NormParams<T> f = p.Forward;
        int block = Grid.IdxX, stride = 4 * Group.DimX, first = 4 * Group.IdxX;
        bool exact = default(TLayout).Exact;
        int chunk = default(TQuads).Quads * stride, chunks = exact ? 1 : (f.Hidden + chunk - 1) / chunk;
        int partial = block * 3 * f.Hidden;
        bool whole = default(TLayout).Whole(f.WholeQuads);
        if (!exact && chunks > 1)
            for (int column = first; column < f.Hidden; column += stride)
                for (int part = 0; part < 3; part++)
                    ElementQuads.Write<float, Float32Codec>(p.Partials, partial + part * f.Hidden + column, f.Hidden - column, default, whole);
        TSum sums = default;
        int buffer = 0;
        TQuads quads = default;

        int lastRow = XMath.Min((block + 1) * p.RowsPerBlock, f.Rows);
        for (int row = block * p.RowsPerBlock; row < lastRow; row++)
        {
            int origin = row * f.Hidden;
            float mean = f.Mean[row], rstd = f.Rstd[row];
            var load = new Load { P = p, Origin = origin, Mean = mean, Rstd = rstd };
            for (int c = 0; c < chunks; c++)
                quads.ForEach(ref load, c * chunk + first, stride);
            var (sumG, sumGx) = sums.SumPair(load.SumG, load.SumGx, scratch, buffer);
            buffer ^= 1;
            float meanG = f.Rms == 0 ? sumG / f.Hidden : 0f, meanGx = sumGx / f.Hidden;

            var gradients = new Gradients { P = p, Origin = origin, Partial = partial, Mean = mean, Rstd = rstd, MeanG = meanG, MeanGx = meanGx };
            for (int c = 0; !exact && c < chunks - 1; c++) // (!exact: ILGPU keeps a loop whose bound folds to 0)
            {
                TQuads earlier = default;
                var reload = new Load { P = p, Origin = origin, Mean = mean, Rstd = rstd };
                earlier.ForEach(ref reload, c * chunk + first, stride);
                earlier.ForEach(ref gradients, c * chunk + first, stride);
            }
            gradients.InRegisters = chunks == 1;
            quads.ForEach(ref gradients, (chunks - 1) * chunk + first, stride);
        }
        if (chunks == 1)
        {
            var store = new Store { Partials = p.Partials, Partial = partial, Hidden = f.Hidden, Whole = whole };
            quads.ForEach(ref store, first, stride);
        }
    }

    /// <summary>
    /// A quad's pre-norm sums and kept features into its registers (regenerated from x, residual, bias and the
    /// Philox stream), and its share of Σg and Σg·x̂.
    /// </summary>
    private struct Load : IQuadStep<GradientQuad>
    {
        public NormBackwardParams<T> P;
        public int Origin;
        public float Mean, Rstd, SumG, SumGx;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad quad, int column)
        {
            TLayout layout = default;
            int left = layout.Left(P.Forward.Hidden, column);
            if (left <= 0)
                return;
            bool whole = layout.Whole(P.Forward.WholeQuads);
            var g = ElementQuads.Read<T, TCodec>(P.GradOutput, Origin + column, left, whole).Multiply(ElementQuads.Read<T, TCodec>(P.Forward.Gamma, column, left, whole));
            var loaded = PreNormQuad.Load<T, TCodec, TLayout>(P.Forward, Origin, column, keyInRegisters: true);
            quad.Sum = loaded.Sum;
            quad.Kept = loaded.Kept;
            SumG += g.SumLanes();
            SumGx += g.Dot(loaded.Sum.Add(Float4.Broadcast(-Mean)).Multiply(Rstd));
        }
    }

    /// <summary>
    /// ds and dx of a quad written, its contributions to dγ, dβ and dbias added to its registers
    /// (<see cref="InRegisters"/>: a row of one chunk) or to the block's partials.
    /// </summary>
    private struct Gradients : IQuadStep<GradientQuad>
    {
        public NormBackwardParams<T> P;
        public int Origin, Partial;
        public float Mean, Rstd, MeanG, MeanGx;
        public bool InRegisters;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad quad, int column)
        {
            TLayout layout = default;
            int hidden = P.Forward.Hidden, left = layout.Left(hidden, column);
            if (left <= 0)
                return;
            bool whole = layout.Whole(P.Forward.WholeQuads);
            var dy = ElementQuads.Read<T, TCodec>(P.GradOutput, Origin + column, left, whole);
            var normalised = quad.Sum.Add(Float4.Broadcast(-Mean)).Multiply(Rstd);
            // ds = rstd·(dy·γ − mean(g) − x̂·mean(g·x̂))
            var ds = dy.Multiply(ElementQuads.Read<T, TCodec>(P.Forward.Gamma, column, left, whole)).Add(Float4.Broadcast(-MeanG))
                .Add(normalised.Multiply(-MeanGx)).Multiply(Rstd);
            var dx = ds.Multiply(PreNormQuad.Factors(quad.Kept, P.Forward.KeepScale));
            if (P.GradResidual.Length > 0)
                ElementQuads.Write<T, TCodec>(P.GradResidual, Origin + column, left, ds, whole);
            if (P.GradX.Length > 0)
                ElementQuads.Write<T, TCodec>(P.GradX, Origin + column, left, dx, whole);
            var gamma = dy.Multiply(normalised);
            if (InRegisters)
            {
                quad.Gamma = quad.Gamma.Add(gamma);
                quad.Beta = quad.Beta.Add(dy);
                quad.Bias = quad.Bias.Add(dx);
            }
            else
            {
                AddPartials(P.Partials, Partial + column, left, gamma, whole);
                AddPartials(P.Partials, Partial + hidden + column, left, dy, whole);
                AddPartials(P.Partials, Partial + 2 * hidden + column, left, dx, whole);
            }
        }
    }

    /// <summary>A quad's sums over the block's rows written to the block's partials.</summary>
    private struct Store : IQuadStep<GradientQuad>
    {
        public ArrayView<float> Partials;
        public int Partial, Hidden;
        public bool Whole;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad quad, int column)
        {
            int left = default(TLayout).Left(Hidden, column);
            if (left <= 0)
                return;
            ElementQuads.Write<float, Float32Codec>(Partials, Partial + column, left, quad.Gamma, Whole);
            ElementQuads.Write<float, Float32Codec>(Partials, Partial + Hidden + column, left, quad.Beta, Whole);
            ElementQuads.Write<float, Float32Codec>(Partials, Partial + 2 * Hidden + column, left, quad.Bias, Whole);
        }
    }

    /// <summary>Adds the first <paramref name="count"/> lanes of <paramref name="values"/> to the partial sums from <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddPartials(ArrayView<float> partials, int index, int count, Float4 values, bool whole) =>
        ElementQuads.Write<float, Float32Codec>(partials, index, count, ElementQuads.Read<float, Float32Codec>(partials, index, count, whole).Add(values), whole);
}

/// <summary>
/// The registers of one quad in the norm backward: its pre-norm sums and kept features (this row's), and its
/// features' sums of dγ, dβ and dbias over the rows of the group's block.
/// </summary>
internal struct GradientQuad
{
    public Float4 Sum, Gamma, Beta, Bias;

    /// <summary>The features dropout kept (<see cref="PreNormQuad.Kept"/>).</summary>
    public int Kept;
}
