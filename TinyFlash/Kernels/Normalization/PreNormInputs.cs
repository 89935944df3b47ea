using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// The stored inputs of a quad's pre-norm sum, as fetched: x, the residual and the bias at features c … c + 3 (zero
/// bits past the row's end, 0 in every storage type; an absent residual or bias is a row of zeros, read like any other,
/// <see cref="NormParams{T}"/>). x and the residual are streamed
/// (<see cref="IRowStream{T, TSelf}"/>: tensors <c>tensor</c> and <c>tensor</c> + 1), the bias, the same for every
/// row, is fetched from global memory. Both norm kernels fetch the inputs of every quad a thread holds before
/// converting any (<see cref="PreNormQuad.From"/>): the loads are then all in flight at once, where a load converted
/// right after it was issued made each quad wait for its own round trip (Nsight Compute on the H200, 2026-12-03: the
/// first use of each load was 59 % of the forward's stall samples).
/// </summary>
internal struct PreNormInputs<T> where T : unmanaged
{
    public Elements4<T> X, Residual, Bias;

    /// <summary>
    /// Starts streaming x and the residual of features <paramref name="column"/> … + 3 of the row starting at element
    /// <paramref name="origin"/> into slot <paramref name="slot"/> of stage <paramref name="stage"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Issue<TLayout, TStream>(in NormParams<T> p, in TStream stream, int stage, int tensor, int origin, int column, int slot)
        where TLayout : struct, IRowLayout
        where TStream : struct, IRowStream<T, TStream>
    {
        TLayout layout = default;
        int left = layout.Left(p.Hidden, column);
        bool whole = layout.Whole(p.WholeQuads);
        stream.Issue(stage, tensor, slot, p.X, p.XAddress, origin + column, left, whole);
        stream.Issue(stage, tensor + 1, slot, p.Residual, p.ResidualAddress, origin * p.ResidualPerRow + column, left, whole);
    }

    /// <summary>The inputs of features <paramref name="column"/> … + 3 of the row starting at element <paramref name="origin"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PreNormInputs<T> Fetch<TLayout, TStream>(in NormParams<T> p, in TStream stream, int stage, int tensor, int origin, int column, int slot)
        where TLayout : struct, IRowLayout
        where TStream : struct, IRowStream<T, TStream>
    {
        TLayout layout = default;
        int left = layout.Left(p.Hidden, column);
        bool whole = layout.Whole(p.WholeQuads);
        return new PreNormInputs<T>
        {
            X = stream.Read(stage, tensor, slot, p.X, origin + column, left, whole),
            Residual = stream.Read(stage, tensor + 1, slot, p.Residual, origin * p.ResidualPerRow + column, left, whole),
            Bias = ElementQuads.Fetch(p.Bias, column, left, whole),
        };
    }
}
