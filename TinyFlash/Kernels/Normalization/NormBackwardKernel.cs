using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The backward of <see cref="NormDropoutResidualKernel{T, TCodec}"/>, in two kernels. With x̂ = (s − mean)·rstd
/// (RMSNorm: s·rstd) and g = dy·γ:
/// <code>
/// ds        = rstd·(g − mean(g) − x̂·mean(g·x̂))      (RMSNorm: rstd·(g − x̂·mean(g·x̂)))
/// dresidual = ds          dx = ds·keep/(1 − p)       (the forward's Philox mask, regenerated)
/// dγ = Σ_rows dy·x̂       dβ = Σ_rows dy             dbias = Σ_rows dx
/// </code>
/// <see cref="Rows"/>: one group per block of rows, each row in two passes (the means of g and g·x̂ by a group reduction,
/// then the per-element gradients, a quad of four features at a time: <see cref="PreNormQuad"/>; the second pass reads
/// the row's pre-norm sums and dropout factors from shared memory where the first stashed them, for rows of up to
/// <see cref="StashedFeatures"/>, and recomputes them beyond), the block's
/// per-feature sums kept in its own slice of the partials (thread t owns features 4t … 4t + 3, 4(t + G) …: no two
/// threads touch one float; a thread's first two quads sum in registers over the block's rows and are written once,
/// further quads, in rows longer than 8 features a thread, add into the partials row by row). <see cref="Columns"/>: one thread per feature adds the blocks' partials in block order.
/// No atomics, a fixed order: results are bit-identical from run to run.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class NormBackwardKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Longest row whose pre-norm sums and dropout factors the row pass keeps in shared memory (32 KiB).</summary>
    public const int StashedFeatures = 4096;

    /// <summary>Entry point of the row pass: one group a block of rows, a power-of-two size.</summary>
    public static void Rows(NormBackwardParams<T> p)
    {
        var sums = SharedMemory.Allocate<float>(NormDropoutResidualKernel<T, TCodec>.MaxThreads);
        var products = SharedMemory.Allocate<float>(NormDropoutResidualKernel<T, TCodec>.MaxThreads);
        var stash = SharedMemory.GetDynamic<float>().Cast<Float4>(); // [sums][factors], a Float4 a quad
        NormParams<T> f = p.Forward;
        int block = Grid.IdxX, thread = Group.IdxX, threads = Group.DimX;
        int partial = block * 3 * f.Hidden;
        int quads = (f.Hidden + 3) / 4;
        bool whole = f.WholeQuads != 0;
        for (int column = 4 * thread + 8 * threads; column < f.Hidden; column += 4 * threads)
            for (int part = 0; part < 3; part++)
                PreNormQuad.Write<float, Float32Codec>(p.Partials, partial + part * f.Hidden + column, f.Hidden - column, default, whole);
        QuadSums first = default, second = default;

        int lastRow = XMath.Min((block + 1) * p.RowsPerBlock, f.Rows);
        for (int row = block * p.RowsPerBlock; row < lastRow; row++)
        {
            int origin = row * f.Hidden;
            float mean = f.Mean[row], rstd = f.Rstd[row];
            float sumG = 0f, sumGx = 0f;
            for (int column = 4 * thread; column < f.Hidden; column += 4 * threads)
            {
                int left = f.Hidden - column;
                var g = PreNormQuad.Read<T, TCodec>(p.GradOutput, origin + column, left, whole).Multiply(PreNormQuad.Read<T, TCodec>(f.Gamma, column, left, whole));
                var quad = PreNormQuad.Load<T, TCodec>(f, origin, column);
                if (f.StashRow != 0)
                {
                    stash[column / 4] = quad.Sum;
                    stash[quads + column / 4] = quad.Keep;
                }
                var normalised = quad.Sum.Add(Float4.Broadcast(-mean)).Multiply(rstd);
                sumG += g.SumLanes();
                sumGx += g.Dot(normalised);
            }
            sums[thread] = sumG;
            products[thread] = sumGx;
            for (int stride = threads / 2; stride > 0; stride /= 2)
            {
                Group.Barrier();
                if (thread < stride)
                {
                    sums[thread] += sums[thread + stride];
                    products[thread] += products[thread + stride];
                }
            }
            Group.Barrier();
            float meanG = f.Rms != 0 ? 0f : sums[0] / f.Hidden, meanGx = products[0] / f.Hidden;
            Group.Barrier(); // every thread has read the sums before the next row overwrites them

            for (int column = 4 * thread, k = 0; column < f.Hidden; column += 4 * threads, k++)
            {
                int left = f.Hidden - column;
                var dy = PreNormQuad.Read<T, TCodec>(p.GradOutput, origin + column, left, whole);
                var quad = f.StashRow != 0
                    ? new PreNormQuad { Sum = stash[column / 4], Keep = stash[quads + column / 4] }
                    : PreNormQuad.Load<T, TCodec>(f, origin, column);
                var normalised = quad.Sum.Add(Float4.Broadcast(-mean)).Multiply(rstd);
                // ds = rstd·(dy·γ − mean(g) − x̂·mean(g·x̂))
                var ds = dy.Multiply(PreNormQuad.Read<T, TCodec>(f.Gamma, column, left, whole)).Add(Float4.Broadcast(-meanG))
                    .Add(normalised.Multiply(-meanGx)).Multiply(rstd);
                var dx = ds.Multiply(quad.Keep);
                if (p.GradResidual.Length > 0)
                    PreNormQuad.Write<T, TCodec>(p.GradResidual, origin + column, left, ds, whole);
                if (p.GradX.Length > 0)
                    PreNormQuad.Write<T, TCodec>(p.GradX, origin + column, left, dx, whole);
                var contribution = new QuadSums { Gamma = dy.Multiply(normalised), Beta = dy, Bias = dx };
                if (k == 0)
                    first = first.Add(contribution);
                else if (k == 1)
                    second = second.Add(contribution);
                else
                    contribution.AddTo(p.Partials, partial, f.Hidden, column, whole);
            }
        }
        first.Store(p.Partials, partial, f.Hidden, 4 * thread, whole);
        second.Store(p.Partials, partial, f.Hidden, 4 * thread + 4 * threads, whole);
    }

    /// <summary>A quad's contributions to the per-feature gradients dγ, dβ and dbias.</summary>
    private struct QuadSums
    {
        public Float4 Gamma, Beta, Bias;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly QuadSums Add(QuadSums other) =>
            new() { Gamma = Gamma.Add(other.Gamma), Beta = Beta.Add(other.Beta), Bias = Bias.Add(other.Bias) };

        /// <summary>Writes the sums of features <paramref name="column"/> … + 3 into a block's partials (if the row has them).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(ArrayView<float> partials, int partial, int hidden, int column, bool whole)
        {
            if (column >= hidden)
                return;
            PreNormQuad.Write<float, Float32Codec>(partials, partial + column, hidden - column, Gamma, whole);
            PreNormQuad.Write<float, Float32Codec>(partials, partial + hidden + column, hidden - column, Beta, whole);
            PreNormQuad.Write<float, Float32Codec>(partials, partial + 2 * hidden + column, hidden - column, Bias, whole);
        }

        /// <summary>Adds the sums of features <paramref name="column"/> … + 3 to a block's partials.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void AddTo(ArrayView<float> partials, int partial, int hidden, int column, bool whole)
        {
            AddPartials(partials, partial + column, hidden - column, Gamma, whole);
            AddPartials(partials, partial + hidden + column, hidden - column, Beta, whole);
            AddPartials(partials, partial + 2 * hidden + column, hidden - column, Bias, whole);
        }
    }

    /// <summary>Adds the first <paramref name="count"/> lanes of <paramref name="values"/> to the partial sums from <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddPartials(ArrayView<float> partials, int index, int count, Float4 values, bool whole) =>
        PreNormQuad.Write<float, Float32Codec>(partials, index, count, PreNormQuad.Read<float, Float32Codec>(partials, index, count, whole).Add(values), whole);

    /// <summary>Entry point of the column pass: one thread a feature, the blocks' partials added in order.</summary>
    public static void Columns(NormBackwardParams<T> p)
    {
        int hidden = p.Forward.Hidden;
        int column = Grid.GlobalIndex.X;
        if (column >= hidden)
            return;
        float gamma = 0f, beta = 0f, bias = 0f;
        for (int block = 0; block < p.Blocks; block++)
        {
            int partial = block * 3 * hidden + column;
            gamma += p.Partials[partial];
            beta += p.Partials[partial + hidden];
            bias += p.Partials[partial + 2 * hidden];
        }
        TCodec codec = default;
        if (p.GradGamma.Length > 0)
            p.GradGamma[column] = codec.FromFloat(gamma);
        if (p.GradBeta.Length > 0)
            p.GradBeta[column] = codec.FromFloat(beta);
        if (p.GradBias.Length > 0)
            p.GradBias[column] = codec.FromFloat(bias);
    }
}
