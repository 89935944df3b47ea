using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Numerics;

namespace TinyFlash.Kernels.Normalization;

/// <summary>A quad's registers that hold which of its four features dropout kept.</summary>
internal interface IMaskedQuad
{
    /// <summary>Bit i: feature c + i kept (all four without dropout).</summary>
    int Kept { get; set; }
}

/// <summary>
/// Draws the dropout mask of the quads a thread holds, in order (<see cref="Philox.NormWords"/>: one call an octet of
/// the stream, two quads). Quad j of thread t starts at element e = origin + 4t + j·4G, so on an exact row (G even,
/// hidden = 4·K·G) lanes 2u and 2u + 1 hold the two halves of octets e/8 for every j: with two quads or more
/// (<see cref="Paired"/>), the even lane draws quad j's octet, the odd lane quad j + 1's, and each passes its neighbour
/// the four kept bits of the neighbour's half in one swap, one call a thread for two quads. Otherwise (one quad, a
/// checked row whose quads may straddle octets, no shuffles) each quad draws its own.
/// </summary>
/// <typeparam name="TState">The quad's registers.</typeparam>
/// <typeparam name="TSum">How lanes swap values (<see cref="IRowSum.SwapsLanes"/>).</typeparam>
/// <typeparam name="TLayout">Whether the row is exact.</typeparam>
internal struct DrawMask<TState, TSum, TLayout> : IQuadStep<TState>
    where TState : struct, IMaskedQuad
    where TSum : struct, IRowSum
    where TLayout : struct, IRowLayout
{
    public PhiloxKey Key;
    public ulong Offset;

    /// <summary><see cref="Philox.HalfThreshold"/> of p.</summary>
    public uint Threshold;

    /// <summary>Element of the row's feature 0 in the stream (row·hidden).</summary>
    public long Origin;

    /// <summary>Features from a thread's quad to its next (4G).</summary>
    public int Stride;

    /// <summary>Lanes share draws: an exact row of two quads or more a thread, and lanes that swap (a compile-time constant).</summary>
    public bool Paired;

    private int carried;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Apply(ref TState quad, int column, int index)
    {
        long element = Origin + column;
        if (!Paired)
        {
            quad.Kept = Philox.NormKeptBits(Key, Offset, element, Threshold, aligned: default(TLayout).Exact);
            return;
        }
        if ((index & 1) != 0)
        {
            quad.Kept = carried;
            return;
        }
        bool odd = (Group.IdxX & 1) != 0;
        var words = Philox.NormWords(Key, Offset, (odd ? element + Stride : element) >> 3);
        int low = Philox.KeptBits(words.X, words.Y, Threshold), high = Philox.KeptBits(words.Z, words.W, Threshold);
        int received = default(TSum).SwapWithNeighbour(odd ? low : high);
        quad.Kept = odd ? received : low;
        carried = odd ? high : received;
    }
}
