using System.Runtime.CompilerServices;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// The band mask <c>low ≤ key − query ≤ high</c> and the end of the keys, applied element by element to a thread's
/// 4×4 score block in the tiles that straddle an edge (every other tile is whole or never visited). Shared by the
/// portable forward and backward kernels.
/// </summary>
internal static class BandMask
{
    /// <summary>
    /// Sets to −∞ the scores of keys the mask hides or past the last key. <paramref name="diagonal"/> is
    /// key − query of element (0, 0); element (r, c) sits on diagonal + c − r; <paramref name="keysLeft"/> counts
    /// the real keys from column 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void HideInvisible(ref Tile4x4 scores, int diagonal, int low, int high, int keysLeft) =>
        HideInvisible(ref scores, new RowDiagonals(diagonal, diagonal - 1, diagonal - 2, diagonal - 3), low, high, keysLeft);

    /// <summary>As above, with each row's key − query at column 0 given (rows of packed query heads).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void HideInvisible(ref Tile4x4 scores, RowDiagonals diagonals, int low, int high, int keysLeft)
    {
        scores.R0 = HideInvisible(scores.R0, diagonals.R0, low, high, keysLeft);
        scores.R1 = HideInvisible(scores.R1, diagonals.R1, low, high, keysLeft);
        scores.R2 = HideInvisible(scores.R2, diagonals.R2, low, high, keysLeft);
        scores.R3 = HideInvisible(scores.R3, diagonals.R3, low, high, keysLeft);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Float4 HideInvisible(Float4 row, int diagonal, int low, int high, int keysLeft) => new(
        Visible(diagonal, low, high, keysLeft > 0) ? row.X : float.NegativeInfinity,
        Visible(diagonal + 1, low, high, keysLeft > 1) ? row.Y : float.NegativeInfinity,
        Visible(diagonal + 2, low, high, keysLeft > 2) ? row.Z : float.NegativeInfinity,
        Visible(diagonal + 3, low, high, keysLeft > 3) ? row.W : float.NegativeInfinity);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Visible(int diagonal, int low, int high, bool keyExists) =>
        keyExists & diagonal >= low & diagonal <= high;
}
