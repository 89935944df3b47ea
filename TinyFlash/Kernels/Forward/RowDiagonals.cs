using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Forward;

/// <summary>
/// key − query position of four score rows a thread holds, at its first key column: rows <c>row + k·spacing</c>
/// (the portable kernel's 4×4 block: spacing 1; an <c>mma</c> lane's rows g, g + 8, g + 16, g + 24: spacing 8).
/// Each row's position comes from <see cref="TensorStrides.Position"/>, so query heads packed as rows each get
/// their own band.
/// </summary>
internal readonly struct RowDiagonals(int r0, int r1, int r2, int r3)
{
    public readonly int R0 = r0, R1 = r1, R2 = r2, R3 = r3;

    /// <summary>The diagonals of rows <paramref name="row"/> + k·<paramref name="spacing"/> at key <paramref name="key"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static RowDiagonals Of(in TensorStrides rows, int key, int row, int spacing) => new(
        key - rows.Position(row),
        key - rows.Position(row + spacing),
        key - rows.Position(row + 2 * spacing),
        key - rows.Position(row + 3 * spacing));

    /// <summary>The same rows <paramref name="columns"/> keys further right.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowDiagonals Plus(int columns) => new(R0 + columns, R1 + columns, R2 + columns, R3 + columns);
}
