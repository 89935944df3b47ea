using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.Forward;
using TinyFlash.Kernels.Registers;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// The shared-memory tiles of the backward kernels and the work both do on a (query tile, key tile) pair. Square
/// tiles of B = 4·ThreadsX rows; thread (ty, tx) holds the 4×4 score block of queries 4ty.. and keys 4tx.., and
/// for the products that contract over a tile's rows the slice (4 rows 4ty.. × feature chunks tx + c·ThreadsX) of
/// the forward's output layout. Sizes in 16-byte units:
/// <code>
/// Q, dO, K, V   [B][RowPitch4]    row-major, features padded with zeros to whole chunks, + 1 unit against bank conflicts
/// P, dS         [B queries][B/4 + 1]   dSᵀ [B keys][B/4 + 1]
/// lse, D        [B/4] each        per query row: log-sum-exp in base 2 (+∞ for a row that saw no key), D = rowsum(dO∘O)
/// </code>
/// With exp2 and scores in base 2 (S·scale·log2 e), for the pair:
/// <code>
///   P = 2^(S − lse)     dP = dO·Vᵀ     (dropout: Pd = P∘Z, dP ← dP∘Z, Z = keep/(1 − p))     dS = P∘(dP − D)∘slope
///   dV += Pdᵀ·dO        dK += dSᵀ·Q    dQ += dS·K          (slope: the softcap's derivative, else 1)
/// </code>
/// </summary>
internal readonly struct BackwardTiles
{
    private readonly TileGeometry g;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BackwardTiles(TileGeometry geometry) => g = geometry;

    /// <summary>Rows (and keys) of a tile.</summary>
    public int Block => g.BlockM;

    /// <summary>Feature units of a row that hold data or chunk padding (the output slice reads up to here).</summary>
    public int RowQuads => g.OutputChunks * g.ThreadsX;

    /// <summary>Row pitch of Q, dO, K and V.</summary>
    public int RowPitch4 => RowQuads + 1;

    /// <summary>Row pitch of P, dS and dSᵀ.</summary>
    public int ScorePitch4 => g.BlockM / 4 + 1;

    private int RowTile4 => g.BlockM * RowPitch4;

    private int ScoreTile4 => g.BlockM * ScorePitch4;

    public int QueryOffset4 => 0;

    public int GradOutputOffset4 => RowTile4;

    public int KeyOffset4 => 2 * RowTile4;

    public int ValueOffset4 => 3 * RowTile4;

    public int ProbabilityOffset4 => 4 * RowTile4;

    public int GradScoreOffset4 => ProbabilityOffset4 + ScoreTile4;

    public int GradScoreTransposedOffset4 => GradScoreOffset4 + ScoreTile4;

    public int LogSumExpOffset4 => GradScoreTransposedOffset4 + ScoreTile4;

    public int DeltaOffset4 => LogSumExpOffset4 + g.BlockM / 4;

    /// <summary>Shared memory of a group.</summary>
    public int SharedFloat4s => DeltaOffset4 + g.BlockM / 4;

    /// <summary>
    /// Loads <see cref="Block"/> rows from <paramref name="firstRow"/> into a row-major tile: rows at or past
    /// <paramref name="rowLimit"/> and features past the head dim are zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LoadRows<T, TCodec>(ArrayView<T> source, int origin, int rowStride, int firstRow, int rowLimit,
        ArrayView<Float4> tile, int thread)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        TCodec codec = default;
        int quads = RowQuads, featureQuads = g.HeadDim / 4;
        for (int element = thread; element < g.BlockM * quads; element += g.Threads)
        {
            int row = element / quads;
            int quad = element - row * quads;
            bool inside = firstRow + row < rowLimit & quad < featureQuads;
            int index = inside ? origin + (firstRow + row) * rowStride + 4 * quad : origin;
            var value = new Float4(codec.ToFloat(source[index]), codec.ToFloat(source[index + 1]),
                codec.ToFloat(source[index + 2]), codec.ToFloat(source[index + 3]));
            tile[row * RowPitch4 + quad] = inside ? value : default;
        }
    }

    /// <summary>Loads B query rows of <paramref name="block"/>'s sequence and head from <paramref name="rowStart"/>: Q, dO and their statistics.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadQueries<T, TCodec>(in BackwardParams<T> bp, in QueryBlock block, int rowStart, ArrayView<Float4> shared, int thread)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        var p = bp.Attention;
        LoadRows<T, TCodec>(p.Query, block.QueryOrigin, p.QueryStrides.Row, rowStart, block.QueryLength, shared.SubView(QueryOffset4), thread);
        LoadRows<T, TCodec>(bp.GradOutput, block.QueryOrigin, p.QueryStrides.Row, rowStart, block.QueryLength, shared.SubView(GradOutputOffset4), thread);
        ArrayView<float> floats = shared.Cast<float>();
        LoadRowStatistics(p.LogSumExp, bp.Delta, block.RowIndex + rowStart, block.QueryLength - rowStart,
            floats.SubView(4 * LogSumExpOffset4), floats.SubView(4 * DeltaOffset4), thread);
    }

    /// <summary>Loads B keys of <paramref name="block"/>'s sequence from <paramref name="keyStart"/>: K and V.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void LoadKeys<T, TCodec>(in AttentionParams<T> p, in QueryBlock block, int keyStart, ArrayView<Float4> shared, int thread)
        where T : unmanaged
        where TCodec : struct, IElementCodec<T>
    {
        LoadRows<T, TCodec>(p.Key, block.KeyOrigin, p.KeyStrides.Row, keyStart, block.KeyLength, shared.SubView(KeyOffset4), thread);
        LoadRows<T, TCodec>(p.Value, block.KeyOrigin, p.KeyStrides.Row, keyStart, block.KeyLength, shared.SubView(ValueOffset4), thread);
    }

    /// <summary>
    /// Loads each query row's base-2 log-sum-exp (+∞ where the row saw no key or does not exist, so its probabilities
    /// are 0) and D (0 where the row does not exist).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void LoadRowStatistics(ArrayView<float> logSumExp, ArrayView<float> delta, int rowIndex, int rowsValid,
        ArrayView<float> logSumExpTile, ArrayView<float> deltaTile, int thread)
    {
        for (int row = thread; row < g.BlockM; row += g.Threads)
        {
            bool inside = row < rowsValid;
            logSumExpTile[row] = SoftmaxMath.ProbabilityOffset(logSumExp[inside ? rowIndex + row : 0], inside);
            float d = delta[inside ? rowIndex + row : 0];
            deltaTile[row] = inside ? d : 0f;
        }
    }

    /// <summary>The thread's 4×4 block of A·Bᵀ for row-major tiles A (rows 4ty..) and B (rows 4tx..), over the head dim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Tile4x4 Products(ArrayView<Float4> a, ArrayView<Float4> b, int ty, int tx)
    {
        int pitch = RowPitch4;
        ArrayView<Float4> rowsA = a.SubView(4 * ty * pitch);
        ArrayView<Float4> rowsB = b.SubView(4 * tx * pitch);
        Tile4x4 result = default;
        for (int quad = 0; quad < g.HeadDim / 4; quad++)
        {
            result.AddDots(rowsA[quad], rowsA[pitch + quad], rowsA[2 * pitch + quad], rowsA[3 * pitch + quad],
                rowsB[quad], rowsB[pitch + quad], rowsB[2 * pitch + quad], rowsB[3 * pitch + quad]);
        }
        return result;
    }

    /// <summary>
    /// P (dropped out if asked) and dS of the thread's block for queries from <paramref name="rowStart"/> of
    /// <paramref name="block"/>'s sequence and head and keys from <paramref name="keyStart"/>: the block's band and key
    /// end applied where <paramref name="partial"/>, the modifiers (<paramref name="masked"/>: a block-sparse mask's
    /// element mask applies in this tile).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScoreGradients<T, TModifier>(in AttentionParams<T> p, in QueryBlock block, TModifier modifier, ArrayView<Float4> shared,
        int rowStart, int keyStart, bool partial, bool masked, int ty, int tx, out Tile4x4 probabilities, out Tile4x4 gradScores)
        where T : unmanaged
        where TModifier : struct, IScoreModifier<TModifier>
    {
        Tile4x4 scores = Products(shared.SubView(QueryOffset4), shared.SubView(KeyOffset4), ty, tx).Multiply(p.ScaleLog2);
        int row = rowStart + 4 * ty, key = keyStart + 4 * tx;
        Tile4x4 slopes = default;
        if (!modifier.IsIdentity)
        {
            slopes = scores.Slopes(modifier);
            scores.Modify(modifier.ForTile(masked), row, key);
        }
        if (partial)
            BandMask.HideInvisible(ref scores, key - row, block.DiagonalLow, block.DiagonalHigh, block.KeyLength - key);
        scores.Exp2Subtract(shared[LogSumExpOffset4 + ty]);
        Tile4x4 gradProbabilities = Products(shared.SubView(GradOutputOffset4), shared.SubView(ValueOffset4), ty, tx);
        probabilities = scores;
        if (modifier.Drops)
        {
            Tile4x4 keep = default;
            keep.R0 = keep.R1 = keep.R2 = keep.R3 = Float4.Broadcast(1f);
            keep.Drop(modifier, block.RowIndex + row, row, key);
            probabilities = scores.Multiply(keep);
            gradProbabilities = gradProbabilities.Multiply(keep);
        }
        gradScores = scores.Multiply(gradProbabilities.SubtractRows(shared[DeltaOffset4 + ty]));
        if (!modifier.IsIdentity)
            gradScores = gradScores.Multiply(slopes);
    }

    /// <summary>Writes the thread's block row by row into a [query][key] score tile at <paramref name="offset4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StoreRows(ArrayView<Float4> shared, int offset4, Tile4x4 block, int ty, int tx)
    {
        int index = offset4 + 4 * ty * ScorePitch4 + tx;
        shared[index] = block.R0;
        shared[index + ScorePitch4] = block.R1;
        shared[index + 2 * ScorePitch4] = block.R2;
        shared[index + 3 * ScorePitch4] = block.R3;
    }

    /// <summary>Writes the thread's block column by column into a [key][query] score tile at <paramref name="offset4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StoreColumns(ArrayView<Float4> shared, int offset4, Tile4x4 block, int ty, int tx)
    {
        int index = offset4 + 4 * tx * ScorePitch4 + ty;
        shared[index] = block.Column0();
        shared[index + ScorePitch4] = block.Column1();
        shared[index + 2 * ScorePitch4] = block.Column2();
        shared[index + 3 * ScorePitch4] = block.Column3();
    }

    /// <summary>
    /// slice += Σ_k coefficients[k][rows 4ty..] ⊗ rows[k][the slice's features] over the tile's B values of k: a
    /// product contracting over the rows of a score tile (at <paramref name="coefficients4"/>) and of a row tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Accumulate<TSlice>(ref TSlice slice, ArrayView<Float4> shared, int coefficients4, int rows4, int ty, int tx)
        where TSlice : struct, IOutputSlice
    {
        ArrayView<Float4> coefficients = shared.SubView(coefficients4 + ty);
        ArrayView<Float4> values = shared.SubView(rows4 + tx);
        for (int k = 0; k < g.BlockM; k++)
            slice.AddProducts(coefficients[k * ScorePitch4], values, k * RowPitch4, g.ThreadsX);
    }
}
