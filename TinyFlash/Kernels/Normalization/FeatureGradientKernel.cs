using ILGPU;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Normalization;

/// <summary>The launch shape of <see cref="FeatureGradientKernel{T, TCodec}"/>.</summary>
internal static class FeatureGradientKernel
{
    /// <summary>Most consecutive features a group reduces (a warp's coalesced 128 bytes of fp32 partials).</summary>
    public const int MaxColumns = 32;

    /// <summary>
    /// Most slices of the row blocks a group's threads divide among themselves: 32, so that a GPU's group of 1024 threads
    /// walks about 8 of the ~260 row blocks a thread, each step a dependent round trip to memory (at 8 slices, 33 steps).
    /// </summary>
    public const int MaxSlices = 32;

    /// <summary>Most threads a group.</summary>
    public const int MaxThreads = MaxColumns * MaxSlices;

    /// <summary>Features a group and threads a group within a device's group limit (a power of two or not).</summary>
    public static (int Columns, int Threads) Shape(int maxGroupSize)
    {
        int threads = 1;
        while (threads * 2 <= Math.Min(MaxThreads, maxGroupSize))
            threads *= 2;
        return (Math.Min(MaxColumns, threads), threads);
    }
}

/// <summary>
/// The norm backward's second stage: dγ, dβ and dbias as the sums over row blocks of the partials the row pass of
/// <see cref="NormBackwardKernel{T, TCodec, TQuads, TSum, TLayout, TStream}"/> wrote. A group takes C consecutive features
/// (<see cref="NormBackwardParams{T}.FeaturesAGroup"/>, 32 on a GPU); its thread (column c, slice s) adds blocks s,
/// s + S, s + 2S, … of feature c (S = threads / C, 32 on a GPU), two blocks a step, then the slice-0 thread adds
/// the S slice sums in order. A fixed order and no atomics: bit-identical from run to run, and S times the parallelism of one thread a
/// feature walking every block.
/// </summary>
internal static class FeatureGradientKernel<T, TCodec>
    where T : unmanaged
    where TCodec : struct, IElementCodec<T>
{
    /// <summary>Entry point: one group a run of features, <see cref="FeatureGradientKernel.Shape"/>'s.</summary>
    public static void Run(NormBackwardParams<T> p)
    {
        const int most = FeatureGradientKernel.MaxThreads;
        var sums = SharedMemory.Allocate<float>(3 * most);
        int hidden = p.Forward.Hidden, columns = p.FeaturesAGroup, slices = Group.DimX / columns;
        int lane = Group.IdxX % columns, slice = Group.IdxX / columns;
        int column = Grid.IdxX * columns + lane;
        float gamma = 0f, beta = 0f, bias = 0f;
        if (column < hidden)
            // two blocks a step, both read before either is added: half the dependent round trips to memory
            for (int block = slice; block < p.Blocks; block += 2 * slices)
            {
                int partial = block * 3 * hidden + column, next = partial + 3 * slices * hidden;
                bool second = block + slices < p.Blocks;
                float gamma0 = p.Partials[partial], beta0 = p.Partials[partial + hidden], bias0 = p.Partials[partial + 2 * hidden];
                float gamma1 = second ? p.Partials[next] : 0f, beta1 = second ? p.Partials[next + hidden] : 0f;
                float bias1 = second ? p.Partials[next + 2 * hidden] : 0f;
                gamma += gamma0 + gamma1;
                beta += beta0 + beta1;
                bias += bias0 + bias1;
            }
        sums[Group.IdxX] = gamma;
        sums[most + Group.IdxX] = beta;
        sums[2 * most + Group.IdxX] = bias;
        Group.Barrier();
        if (slice != 0 || column >= hidden)
            return;
        for (int s = 1; s < slices; s++)
        {
            gamma += sums[s * columns + lane];
            beta += sums[most + s * columns + lane];
            bias += sums[2 * most + s * columns + lane];
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
