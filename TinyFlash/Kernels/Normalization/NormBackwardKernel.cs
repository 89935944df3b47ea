using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>What the host plans <see cref="NormBackwardKernel{T, TCodec, TQuads, TSum, TLayout, TStream}"/> by.</summary>
internal static class NormBackwardKernel
{
    /// <summary>Tensors the row pass streams: dy (0), x (1) and the residual (2).</summary>
    public const int StreamedTensors = 3;
}

/// <summary>
/// The backward of <see cref="NormDropoutResidualKernel{T, TCodec, TQuads, TSum, TLayout}"/>, the first of two
/// kernels. With x̂ = (s − mean)·rstd (RMSNorm: s·rstd) and g = dy·γ:
/// <code>
/// ds        = rstd·(g − mean(g) − x̂·mean(g·x̂))      (RMSNorm: rstd·(g − x̂·mean(g·x̂)))
/// dresidual = ds          dx = ds·keep/(1 − p)       (the forward's Philox mask, regenerated)
/// dγ = Σ_rows dy·x̂       dβ = Σ_rows dy             dbias = Σ_rows dx
/// </code>
/// <see cref="Rows"/>: one group of G threads per block of rows (of B blocks, block b takes rows b, b + B, b + 2B, …:
/// the groups stream neighbouring rows at any moment), the rows one after another, each thread holding K
/// quads of a row in registers (<typeparamref name="TQuads"/>, at features 4t + j·4G as in the forward): the pre-norm
/// sums and kept features, regenerated once a row, and the thread's per-feature sums of dγ, dβ and dbias over the
/// block's rows (<see cref="GradientQuad{T}"/>). Per chunk, dy, x and the residual of the group's next chunk (this
/// row's next, else the next row's first) start streaming into the other stage (<typeparamref name="TStream"/>), and
/// this chunk's, streamed before, are read with every quad's bias and γ (the row's mean and rstd stream with its first
/// chunk); per row, the sums of g and g·x̂ in one group
/// reduction, then dy (still in its stage) and γ read again and the per-element gradients. A row longer than a chunk
/// (4·K·G features) recomputes its earlier chunks, and its per-feature sums go to the block's slice of the partials row
/// by row (thread t owns its features there: no two threads touch one float). <see cref="FeatureGradientKernel{T, TCodec}"/>
/// then adds the blocks' partials in a fixed order: no atomics, results bit-identical from run to run.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
/// <typeparam name="TQuads">The quads a thread holds (K).</typeparam>
/// <typeparam name="TSum">How the group sums.</typeparam>
/// <typeparam name="TLayout">Whether the row is exact (one chunk of whole, aligned quads: no bounds checks compiled) or checked.</typeparam>
/// <typeparam name="TStream">Where dy, x and the residual are streamed: shared-memory stages, or none (OpenCL).</typeparam>
internal static class NormBackwardKernel<T, TCodec, TQuads, TSum, TLayout, TStream>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
    where TQuads : struct, IRowQuads<GradientQuad<T>>
    where TSum : struct, IRowSum
    where TLayout : struct, IRowLayout
    where TStream : struct, IRowStream<T, TStream>
{
    /// <summary>Entry point of the row pass: one group a block of rows (the grid is the blocks).</summary>
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
        var stream = default(TStream).Open(NormBackwardKernel.StreamedTensors, chunk / 4);
        TSum sums = default;
        TQuads quads = default;
        int stage = 0, buffer = 0;
        // the block's rows interleave with the other blocks' (row b, b + B, b + 2B, …), so that the groups stream
        // neighbouring rows at any moment, as the forward's do
        int row = block, rowStep = Grid.DimX;
        if (row < f.Rows)
        {
            Issue(ref quads, p, stream, stage, row, 0, first, stride);
            stream.Commit();
        }

        for (; row < f.Rows; row += rowStep)
        {
            int origin = row * f.Hidden;
            bool nextRow = row + rowStep < f.Rows;
            var load = new Load { P = p, Origin = origin };
            for (int c = 0; c < chunks; c++)
            {
                bool more = c + 1 < chunks;
                if (more || nextRow)
                    Issue(ref quads, p, stream, stage ^ 1, more ? row : row + rowStep, more ? (c + 1) * chunk : 0, first, stride);
                stream.Advance();
                if (c == 0)
                {
                    load.Mean = stream.ReadStatistic(stage, 0, f.Mean, row);
                    load.Rstd = stream.ReadStatistic(stage, 1, f.Rstd, row);
                }
                LoadChunk(ref quads, ref load, stream, stage, c * chunk, first, stride);
                stage ^= 1;
            }
            float mean = load.Mean, rstd = load.Rstd;
            var (sumG, sumGx) = sums.SumPair(load.SumG, load.SumGx, scratch, buffer);
            buffer ^= 1;
            float meanG = f.Rms == 0 ? sumG / f.Hidden : 0f, meanGx = sumGx / f.Hidden;

            var gradients = new Gradients { P = p, Origin = origin, Partial = partial, Mean = mean, Rstd = rstd, MeanG = meanG, MeanGx = meanGx };
            for (int c = 0; !exact && c < chunks - 1; c++) // (!exact: ILGPU keeps a loop whose bound folds to 0)
            {
                TQuads earlier = default;
                var reload = new Load { P = p, Origin = origin, Mean = mean, Rstd = rstd };
                LoadChunk(ref earlier, ref reload, default(DirectRows<T>), 0, c * chunk, first, stride);
                earlier.ForEach(ref gradients, c * chunk + first, stride);
            }
            // dy of the last chunk from its stage (the next chunk streams into the other) and γ, read again rather than
            // held across the reduction: registers the row pass has not got
            int last = (chunks - 1) * chunk;
            var fetch = new FetchOutputGradient<TStream> { P = p, Source = stream, Stage = stage ^ 1, Origin = origin, Start = last };
            quads.ForEach(ref fetch, last + first, stride);
            gradients.InRegisters = chunks == 1;
            quads.ForEach(ref gradients, last + first, stride);
        }
        if (chunks == 1)
        {
            var store = new Store { Partials = p.Partials, Partial = partial, Hidden = f.Hidden, Whole = whole };
            quads.ForEach(ref store, first, stride);
        }
    }

    /// <summary>
    /// Starts streaming dy, x and the residual of the chunk from feature <paramref name="start"/> of row
    /// <paramref name="row"/> into <paramref name="stage"/>, with the row's mean and rstd at its first chunk.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Issue(ref TQuads quads, in NormBackwardParams<T> p, in TStream stream, int stage, int row, int start, int first, int stride)
    {
        var issue = new IssueRow { P = p, Stream = stream, Stage = stage, Origin = row * p.Forward.Hidden, Start = start };
        quads.ForEach(ref issue, start + first, stride);
        if (start == 0)
        {
            stream.IssueStatistic(stage, 0, p.Forward.Mean, p.MeanAddress, row);
            stream.IssueStatistic(stage, 1, p.Forward.Rstd, p.RstdAddress, row);
        }
    }

    /// <summary>
    /// The chunk from feature <paramref name="start"/> into <paramref name="quads"/>: every quad's dy, x and residual
    /// read from <paramref name="source"/>'s stage and its bias and γ fetched, then <paramref name="load"/>, dropout
    /// tested once for all the quads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadChunk<TSource>(ref TQuads quads, ref Load load, in TSource source, int stage, int start, int first, int stride)
        where TSource : struct, IRowStream<T, TSource>
    {
        var fetch = new FetchRow<TSource> { P = load.P, Source = source, Stage = stage, Origin = load.Origin, Start = start };
        quads.ForEach(ref fetch, start + first, stride);
        if (load.P.Forward.DropoutProbability > 0f)
        {
            load.Dropout = true;
            quads.ForEach(ref load, start + first, stride);
            load.Dropout = false;
        }
        else
            quads.ForEach(ref load, start + first, stride);
    }

    /// <summary>dy, x and the residual of a quad start streaming (its slot: (column − chunk start)/4).</summary>
    private struct IssueRow : IQuadStep<GradientQuad<T>>
    {
        public NormBackwardParams<T> P;
        public TStream Stream;
        public int Stage, Origin, Start;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad<T> quad, int column)
        {
            TLayout layout = default;
            int slot = (column - Start) >> 2;
            Stream.Issue(Stage, 0, slot, P.GradOutput, P.GradOutputAddress, Origin + column, layout.Left(P.Forward.Hidden, column), layout.Whole(P.Forward.WholeQuads));
            PreNormInputs<T>.Issue<TLayout, TStream>(P.Forward, Stream, Stage, 1, Origin, column, slot);
        }
    }

    /// <summary>dy of a quad from the stream and γ, as stored.</summary>
    private struct FetchOutputGradient<TSource> : IQuadStep<GradientQuad<T>> where TSource : struct, IRowStream<T, TSource>
    {
        public NormBackwardParams<T> P;
        public TSource Source;
        public int Stage, Origin, Start;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad<T> quad, int column)
        {
            TLayout layout = default;
            int left = layout.Left(P.Forward.Hidden, column);
            bool whole = layout.Whole(P.Forward.WholeQuads);
            quad.GradOutput = Source.Read(Stage, 0, (column - Start) >> 2, P.GradOutput, Origin + column, left, whole);
            quad.Weight = ElementQuads.Fetch(P.Forward.Gamma, column, left, whole);
        }
    }

    /// <summary>dy, x and the residual of a quad from the stream, its bias and γ, as stored.</summary>
    private struct FetchRow<TSource> : IQuadStep<GradientQuad<T>> where TSource : struct, IRowStream<T, TSource>
    {
        public NormBackwardParams<T> P;
        public TSource Source;
        public int Stage, Origin, Start;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad<T> quad, int column)
        {
            var outputGradient = new FetchOutputGradient<TSource> { P = P, Source = Source, Stage = Stage, Origin = Origin, Start = Start };
            outputGradient.Apply(ref quad, column);
            quad.Inputs = PreNormInputs<T>.Fetch<TLayout, TSource>(P.Forward, Source, Stage, 1, Origin, column, (column - Start) >> 2);
        }
    }

    /// <summary>
    /// A quad's pre-norm sums and kept features into its registers (regenerated from its fetched x, residual and bias
    /// and the Philox stream), and its share of Σg and Σg·x̂.
    /// </summary>
    private struct Load : IQuadStep<GradientQuad<T>>
    {
        public NormBackwardParams<T> P;
        public int Origin;
        public float Mean, Rstd, SumG, SumGx;

        /// <summary>p &gt; 0, a constant in each of the two places the step is applied.</summary>
        public bool Dropout;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad<T> quad, int column)
        {
            if (default(TLayout).Left(P.Forward.Hidden, column) <= 0)
                return;
            var g = ElementQuads.ToFloat<T, TCodec>(quad.GradOutput).Multiply(ElementQuads.ToFloat<T, TCodec>(quad.Weight));
            var loaded = PreNormQuad.From<T, TCodec, TLayout>(P.Forward, quad.Inputs, Origin, column, Dropout, keyInRegisters: true);
            quad.Sum = loaded.Sum;
            quad.Kept = loaded.Kept;
            SumG += g.SumLanes();
            SumGx += g.Dot(loaded.Sum.Add(Float4.Broadcast(-Mean)).Multiply(Rstd));
        }
    }

    /// <summary>
    /// ds and dx of a quad written, from its fetched dy and γ; its contributions to dγ, dβ and dbias added to its
    /// registers (<see cref="InRegisters"/>: a row of one chunk) or to the block's partials.
    /// </summary>
    private struct Gradients : IQuadStep<GradientQuad<T>>
    {
        public NormBackwardParams<T> P;
        public int Origin, Partial;
        public float Mean, Rstd, MeanG, MeanGx;
        public bool InRegisters;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad<T> quad, int column)
        {
            TLayout layout = default;
            int hidden = P.Forward.Hidden, left = layout.Left(hidden, column);
            if (left <= 0)
                return;
            bool whole = layout.Whole(P.Forward.WholeQuads);
            var dy = ElementQuads.ToFloat<T, TCodec>(quad.GradOutput);
            var normalised = quad.Sum.Add(Float4.Broadcast(-Mean)).Multiply(Rstd);
            // ds = rstd·(dy·γ − mean(g) − x̂·mean(g·x̂))
            var ds = dy.Multiply(ElementQuads.ToFloat<T, TCodec>(quad.Weight)).Add(Float4.Broadcast(-MeanG))
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
    private struct Store : IQuadStep<GradientQuad<T>>
    {
        public ArrayView<float> Partials;
        public int Partial, Hidden;
        public bool Whole;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Apply(ref GradientQuad<T> quad, int column)
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
