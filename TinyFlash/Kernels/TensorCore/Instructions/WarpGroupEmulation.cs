using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.TensorCore.Fragments;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>The 64 accumulator columns of one warpgroup product, as a lane holds them (<see cref="WarpGroupMma"/>).</summary>
internal struct WarpGroupTiles
{
    public MmaTile T0, T1, T2, T3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public WarpGroupTiles(MmaTile t0, MmaTile t1, MmaTile t2, MmaTile t3)
    {
        T0 = t0;
        T1 = t1;
        T2 = t2;
        T3 = t3;
    }
}

/// <summary>
/// The portable twins of <see cref="WarpGroupMma"/>'s products: each lane computes its own 32 accumulators (rows
/// 16w + g and 16w + g + 8 of warp w of the warpgroup, columns 16j + 2t, + 1, + 8, + 9 of tile j) in fp32, reading A and
/// B from shared memory through the descriptors exactly as the instruction addresses them (the 128-byte swizzle XORs
/// address bits 4–6 with bits 7–9), and A from registers by shuffles from the lanes that hold it (the m16n8k16 A
/// layout). Not inlined: on CUDA they sit in branches that are removed.
/// </summary>
internal static class WarpGroupEmulation
{
    /// <summary>Twin of <see cref="WarpGroupMma.SharedShared{TElement}"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static WarpGroupTiles SharedShared<TElement>(WarpGroupTiles d, SharedBlock shared, ulong a, ulong b, bool accumulate)
        where TElement : struct, ITensorElement
    {
        int top = 16 * (Warp.WarpIdx % 4) + Warp.LaneIdx / 4;
        int column = 2 * (Warp.LaneIdx % 4);
        if (!accumulate)
            d = default;
        Add<TElement>(ref d.T0, shared, a, b, top, column);
        Add<TElement>(ref d.T1, shared, a, b, top, column + 16);
        Add<TElement>(ref d.T2, shared, a, b, top, column + 32);
        Add<TElement>(ref d.T3, shared, a, b, top, column + 48);
        return d;
    }

    /// <summary>Twin of <see cref="WarpGroupMma.RegisterShared{TElement}"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static WarpGroupTiles RegisterShared<TElement>(WarpGroupTiles d, SharedBlock shared, Fragment a, ulong b)
        where TElement : struct, ITensorElement
    {
        int g = Warp.LaneIdx / 4;
        int column = 2 * (Warp.LaneIdx % 4);
        for (int pair = 0; pair < 8; pair++)
        {
            // k = 2·pair and + 1 of rows g and g + 8 sit in lane 4g + pair % 4: registers 0, 1 for k < 8, else 2, 3.
            int source = 4 * g + (pair & 3);
            uint top = Warp.Shuffle(pair < 4 ? a.R0 : a.R2, source);
            uint bottom = Warp.Shuffle(pair < 4 ? a.R1 : a.R3, source);
            AddPair<TElement>(ref d.T0, shared, b, 2 * pair, column, top, bottom);
            AddPair<TElement>(ref d.T1, shared, b, 2 * pair, column + 16, top, bottom);
            AddPair<TElement>(ref d.T2, shared, b, 2 * pair, column + 32, top, bottom);
            AddPair<TElement>(ref d.T3, shared, b, 2 * pair, column + 48, top, bottom);
        }
        return d;
    }

    /// <summary>Adds A·Bᵀ (both K-major) to one tile: rows <paramref name="top"/>, + 8; columns <paramref name="column"/>, + 1, + 8, + 9.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add<TElement>(ref MmaTile tile, SharedBlock shared, ulong a, ulong b, int top, int column)
        where TElement : struct, ITensorElement
    {
        tile.C0 += Dot<TElement>(shared, a, b, top, column);
        tile.C1 += Dot<TElement>(shared, a, b, top, column + 1);
        tile.C2 += Dot<TElement>(shared, a, b, top + 8, column);
        tile.C3 += Dot<TElement>(shared, a, b, top + 8, column + 1);
        tile.C4 += Dot<TElement>(shared, a, b, top, column + 8);
        tile.C5 += Dot<TElement>(shared, a, b, top, column + 9);
        tile.C6 += Dot<TElement>(shared, a, b, top + 8, column + 8);
        tile.C7 += Dot<TElement>(shared, a, b, top + 8, column + 9);
    }

    /// <summary>
    /// Adds k = <paramref name="k"/>, + 1 of A·B (B MN-major) to one tile, A's values for rows g and g + 8 being the
    /// element pairs <paramref name="top"/> and <paramref name="bottom"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddPair<TElement>(ref MmaTile tile, SharedBlock shared, ulong b, int k, int column, uint top, uint bottom)
        where TElement : struct, ITensorElement
    {
        var e = default(TElement);
        float t0 = e.Widen(top & 0xFFFF), t1 = e.Widen(top >> 16), b0 = e.Widen(bottom & 0xFFFF), b1 = e.Widen(bottom >> 16);
        tile.C0 += t0 * TransposedB<TElement>(shared, b, k, column) + t1 * TransposedB<TElement>(shared, b, k + 1, column);
        tile.C1 += t0 * TransposedB<TElement>(shared, b, k, column + 1) + t1 * TransposedB<TElement>(shared, b, k + 1, column + 1);
        tile.C2 += b0 * TransposedB<TElement>(shared, b, k, column) + b1 * TransposedB<TElement>(shared, b, k + 1, column);
        tile.C3 += b0 * TransposedB<TElement>(shared, b, k, column + 1) + b1 * TransposedB<TElement>(shared, b, k + 1, column + 1);
        tile.C4 += t0 * TransposedB<TElement>(shared, b, k, column + 8) + t1 * TransposedB<TElement>(shared, b, k + 1, column + 8);
        tile.C5 += t0 * TransposedB<TElement>(shared, b, k, column + 9) + t1 * TransposedB<TElement>(shared, b, k + 1, column + 9);
        tile.C6 += b0 * TransposedB<TElement>(shared, b, k, column + 8) + b1 * TransposedB<TElement>(shared, b, k + 1, column + 8);
        tile.C7 += b0 * TransposedB<TElement>(shared, b, k, column + 9) + b1 * TransposedB<TElement>(shared, b, k + 1, column + 9);
    }

    /// <summary>Σₖ A(row, k)·B(column, k) over the 16 k of one product, both K-major.</summary>
    private static float Dot<TElement>(SharedBlock shared, ulong a, ulong b, int row, int column)
        where TElement : struct, ITensorElement
    {
        var e = default(TElement);
        float sum = 0f;
        for (int k = 0; k < 16; k++)
            sum += e.Widen(shared.Half(KeyMajor(a, row, k))) * e.Widen(shared.Half(KeyMajor(b, column, k)));
        return sum;
    }

    /// <summary>Element (k, column) of an MN-major B.</summary>
    private static float TransposedB<TElement>(SharedBlock shared, ulong b, int k, int column)
        where TElement : struct, ITensorElement =>
        default(TElement).Widen(shared.Half(Swizzle(Start(b) + (uint)(column / 64) * Leading(b) + 2u * (uint)(column % 64)
            + (uint)(k / 8) * Stride(b) + (uint)(k % 8) * WarpGroupMma.RowBytes)));

    /// <summary>Byte address of element (row, k) of a K-major matrix.</summary>
    private static uint KeyMajor(ulong descriptor, int row, int k) =>
        Swizzle(Start(descriptor) + (uint)(row / 8) * Stride(descriptor) + (uint)(row % 8) * WarpGroupMma.RowBytes + 2u * (uint)k);

    private static uint Start(ulong descriptor) => (uint)(descriptor & 0x3FFF) << 4;

    private static uint Leading(ulong descriptor) => (uint)((descriptor >> 16) & 0x3FFF) << 4;

    private static uint Stride(ulong descriptor) => (uint)((descriptor >> 32) & 0x3FFF) << 4;

    /// <summary>The 128-byte swizzle: the 16-byte unit within a 128-byte row XORed with the row within its 8-row block.</summary>
    private static uint Swizzle(uint address) => address ^ ((address >> 7) & 7) << 4;
}
