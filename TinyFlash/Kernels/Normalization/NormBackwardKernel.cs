using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using TinyFlash.Kernels.Elements;
using TinyFlash.Numerics;

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
/// then the per-element gradients), the block's per-feature sums kept in its own slice of the partials (thread t owns
/// columns t, t + G, …: no two threads touch one float). <see cref="Columns"/>: one thread per feature adds the blocks'
/// partials in block order. No atomics, a fixed order: results are bit-identical from run to run.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TCodec">Conversion between storage and fp32.</typeparam>
internal static class NormBackwardKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Entry point of the row pass: one group a block of rows, a power-of-two size.</summary>
    public static void Rows(NormBackwardParams<T> p)
    {
        var sums = SharedMemory.Allocate<float>(NormDropoutResidualKernel<T, TCodec>.MaxThreads);
        var products = SharedMemory.Allocate<float>(NormDropoutResidualKernel<T, TCodec>.MaxThreads);
        NormParams<T> f = p.Forward;
        TCodec codec = default;
        int block = Grid.IdxX, thread = Group.IdxX, threads = Group.DimX;
        int partial = block * 3 * f.Hidden;
        for (int column = thread; column < f.Hidden; column += threads)
        {
            p.Partials[partial + column] = 0f;
            p.Partials[partial + f.Hidden + column] = 0f;
            p.Partials[partial + 2 * f.Hidden + column] = 0f;
        }

        int lastRow = XMath.Min((block + 1) * p.RowsPerBlock, f.Rows);
        for (int row = block * p.RowsPerBlock; row < lastRow; row++)
        {
            int origin = row * f.Hidden;
            float mean = f.Mean[row], rstd = f.Rstd[row];
            float sumG = 0f, sumGx = 0f;
            for (int column = thread; column < f.Hidden; column += threads)
            {
                float g = codec.ToFloat(p.GradOutput[origin + column]) * codec.ToFloat(f.Gamma[column]);
                float normalised = (PreDropout(f, origin, column, out _) - mean) * rstd;
                sumG += g;
                sumGx += g * normalised;
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

            for (int column = thread; column < f.Hidden; column += threads)
            {
                float dy = codec.ToFloat(p.GradOutput[origin + column]);
                float normalised = (PreDropout(f, origin, column, out float keep) - mean) * rstd;
                float ds = rstd * (dy * codec.ToFloat(f.Gamma[column]) - meanG - normalised * meanGx);
                float dx = ds * keep;
                if (p.GradResidual.Length > 0)
                    p.GradResidual[origin + column] = codec.FromFloat(ds);
                if (p.GradX.Length > 0)
                    p.GradX[origin + column] = codec.FromFloat(dx);
                p.Partials[partial + column] += dy * normalised;
                p.Partials[partial + f.Hidden + column] += dy;
                p.Partials[partial + 2 * f.Hidden + column] += dx;
            }
        }
    }

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

    /// <summary>
    /// The pre-norm sum of one element, regenerated as the forward computed it, and in <paramref name="keep"/> its
    /// dropout factor (0, or 1/(1 − p); 1 without dropout): ∂s/∂x.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float PreDropout(in NormParams<T> f, int origin, int column, out float keep)
    {
        TCodec codec = default;
        float value = codec.ToFloat(f.X[origin + column]);
        if (f.Bias.Length > 0)
            value += codec.ToFloat(f.Bias[column]);
        keep = 1f;
        if (f.DropoutProbability > 0f)
            keep = Philox.Uniform(f.Seed, f.Offset, (long)origin + column) >= f.DropoutProbability ? f.KeepScale : 0f;
        value *= keep;
        if (f.Residual.Length > 0)
            value += codec.ToFloat(f.Residual[origin + column]);
        return value;
    }
}
