using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Forward;

namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>
/// Starts dropout's draws over a whole score tree (<see cref="IColumnBlocks.DrawKeep"/>,
/// <see cref="IScoreGradientBlocks.DrawKeep"/>): block 0 of all, nothing carried. A kernel calls it right after issuing
/// the products that fill the tiles, so that the generator runs beside them.
/// </summary>
internal static class KeepDraws
{
    /// <summary>The forward's row-major scores: see <see cref="IColumnBlocks.DrawKeep"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Draw<TBlocks, TModifier>(ref TBlocks blocks, TModifier modifier, int rowIndex, int key)
        where TBlocks : struct, IColumnBlocks
        where TModifier : struct, IScoreModifier
    {
        uint carry = 0;
        blocks.DrawKeep(modifier, rowIndex, key, 0, blocks.Count, ref carry);
    }

    /// <summary>The backward's scores, in either orientation: see <see cref="IScoreGradientBlocks.DrawKeep"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Draw<TBlocks, TModifier>(ref TBlocks blocks, TModifier modifier, int rowIndex, int key, bool transposed)
        where TBlocks : struct, IScoreGradientBlocks
        where TModifier : struct, IScoreModifier
    {
        uint carry = 0;
        blocks.DrawKeep(modifier, rowIndex, key, transposed, 0, blocks.Count, ref carry);
    }
}
