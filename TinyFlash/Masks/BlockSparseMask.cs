namespace TinyFlash;

/// <summary>
/// A block-sparse mask, with the structure of PyTorch FlexAttention's <c>BlockMask</c>: the score matrix cut into
/// blocks of <see cref="QueryBlockSize"/> × <see cref="KeyBlockSize"/>, and for each (batch, head, query block) the
/// key blocks to visit, each <b>full</b> (every score in it visible, no per-element mask) or <b>partial</b> (an element
/// mask decides). Blocks in neither list are never loaded. Batch and heads may be 1 (shared). The kernels read it in
/// their own tile sizes, whatever the mask's block sizes: a kernel tile is skipped if every mask block it overlaps is
/// skipped, runs unmasked if every one is full, and is masked per element otherwise.
/// </summary>
/// <example>
/// <code>
/// // from a predicate, blocks of 128: a causal sliding window of 1024 plus a few global tokens
/// var mask = BlockSparseMask.FromPredicate((b, h, i, j) => (j &lt;= i &amp;&amp; i - j &lt; 1024) || j &lt; 4, 4096, 4096);
/// engine.Attention(q, k, v, shape, new AttentionOptions { BlockMask = mask });
/// </code>
/// </example>
public sealed class BlockSparseMask
{
    /// <summary>Block state: never loaded, masked per element, or fully visible.</summary>
    internal const byte Skip = 0, Partial = 1, Full = 2;

    private readonly Dictionary<(int BlockM, int BlockN), int[]> kernelTiles = [];
    private readonly Dictionary<(int BlockM, int BlockN), int[]> kernelTilesByKey = [];
    private readonly Dictionary<(int BlockM, int BlockN), bool> partialTiles = [];
    private readonly Dictionary<(int BlockM, int BlockN, int Batch, int Heads), int[]> groupOrders = [];
    private readonly Lock gate = new();
    private float[]? elementBias;

    private BlockSparseMask(int batch, int heads, int queryLength, int keyLength, int queryBlockSize, int keyBlockSize,
        byte[] blocks, bool[]? elements)
    {
        Batch = batch;
        Heads = heads;
        QueryLength = queryLength;
        KeyLength = keyLength;
        QueryBlockSize = queryBlockSize;
        KeyBlockSize = keyBlockSize;
        Blocks = blocks;
        Elements = elements;
        HasPartialBlocks = blocks.Contains(Partial);
        MayHavePartialTiles = HasPartialBlocks || (blocks.Contains(Skip) && blocks.Contains(Full));
    }

    /// <summary>1 (one mask for every batch element) or the call's batch size.</summary>
    public int Batch { get; }

    /// <summary>1 (one mask for every head) or the call's query heads.</summary>
    public int Heads { get; }

    /// <summary>Query positions the mask covers (the call's QueryLength).</summary>
    public int QueryLength { get; }

    /// <summary>Key positions the mask covers (the call's KeyLength).</summary>
    public int KeyLength { get; }

    /// <summary>Query rows of a mask block.</summary>
    public int QueryBlockSize { get; }

    /// <summary>Keys of a mask block.</summary>
    public int KeyBlockSize { get; }

    /// <summary>Query blocks: ⌈QueryLength / QueryBlockSize⌉.</summary>
    public int QueryBlocks => (QueryLength + QueryBlockSize - 1) / QueryBlockSize;

    /// <summary>Key blocks: ⌈KeyLength / KeyBlockSize⌉.</summary>
    public int KeyBlocks => (KeyLength + KeyBlockSize - 1) / KeyBlockSize;

    /// <summary>Visited (full or partial) blocks over all blocks.</summary>
    public double BlockDensity => Blocks.Count(b => b != Skip) / (double)Blocks.Length;

    /// <summary>Whether some block is partial (the element mask is read there).</summary>
    public bool HasPartialBlocks { get; }

    /// <summary>
    /// Whether a kernel tile may need the element mask: some block is partial, or visible and skipped blocks both occur
    /// (a tile larger than the blocks, or not aligned with them, can hold both: its work-list entry is then masked).
    /// </summary>
    internal bool MayHavePartialTiles { get; }

    /// <summary>Whether the work list in tiles of <paramref name="blockM"/> × <paramref name="blockN"/> marks some tile masked (<see cref="KernelTiles"/>); cached.</summary>
    internal bool HasPartialTiles(int blockM, int blockN)
    {
        int[] tiles = KernelTiles(blockM, blockN);
        lock (gate)
        {
            if (partialTiles.TryGetValue((blockM, blockN), out bool cached))
                return cached;
            int entriesStart = Batch * Heads * ((QueryLength + blockM - 1) / blockM) + 1;
            bool any = false;
            for (int e = entriesStart; e < tiles.Length && !any; e++)
                any = (tiles[e] & 1) != 0;
            partialTiles[(blockM, blockN)] = any;
            return any;
        }
    }

    /// <summary>State of every block, [Batch, Heads, QueryBlocks, KeyBlocks].</summary>
    internal byte[] Blocks { get; }

    /// <summary>The element mask read in partial blocks, [Batch, Heads, QueryLength, KeyLength]; null if none is partial.</summary>
    internal bool[]? Elements { get; }

    /// <summary>
    /// Every element's visibility as the bias the kernels read in masked tiles (0 visible, −∞ hidden; <see cref="BuildElementBias"/>),
    /// made on first use and kept.
    /// </summary>
    internal float[] ElementBias
    {
        get
        {
            lock (gate)
                return elementBias ??= BuildElementBias();
        }
    }

    /// <summary>
    /// 0 where a query sees a key, −∞ where not, [Batch, Heads, QueryLength, KeyLength]: partial blocks from their
    /// elements, full and skipped blocks whole (a masked tile may hold skipped blocks beside visible ones).
    /// </summary>
    private float[] BuildElementBias()
    {
        var bias = new float[(long)Batch * Heads * QueryLength * KeyLength];
        for (int b = 0; b < Batch; b++)
        for (int h = 0; h < Heads; h++)
        for (int i = 0; i < QueryLength; i++)
        {
            long row = (((long)b * Heads + h) * QueryLength + i) * KeyLength;
            for (int j = 0; j < KeyLength; j++)
                bias[row + j] = Visible(b, h, i, j) ? 0f : float.NegativeInfinity;
        }
        return bias;
    }

    /// <summary>
    /// The blocks of a dense mask ([batch, heads, queryLength, keyLength], true where visible): a block with every
    /// element visible is full, one with none is skipped, any other is partial and keeps its elements.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes not positive, or the mask's length is not their product.</exception>
    public static BlockSparseMask FromDense(bool[] visible, int queryLength, int keyLength, int blockSize = 128, int batch = 1, int heads = 1)
    {
        ArgumentNullException.ThrowIfNull(visible);
        RequireSizes(queryLength, keyLength, blockSize, blockSize, batch, heads);
        if (visible.LongLength != (long)batch * heads * queryLength * keyLength)
            throw new ArgumentException(
                $"visible has {visible.LongLength} elements; [{batch}, {heads}, {queryLength}, {keyLength}] needs {(long)batch * heads * queryLength * keyLength}.", nameof(visible));
        int queryBlocks = (queryLength + blockSize - 1) / blockSize, keyBlocks = (keyLength + blockSize - 1) / blockSize;
        var blocks = new byte[batch * heads * queryBlocks * keyBlocks];
        for (int plane = 0; plane < batch * heads; plane++)
        for (int qb = 0; qb < queryBlocks; qb++)
        for (int kb = 0; kb < keyBlocks; kb++)
        {
            int seen = 0, all = 0;
            for (int i = qb * blockSize; i < Math.Min(queryLength, (qb + 1) * blockSize); i++)
                for (int j = kb * blockSize; j < Math.Min(keyLength, (kb + 1) * blockSize); j++, all++)
                    seen += visible[((long)plane * queryLength + i) * keyLength + j] ? 1 : 0;
            blocks[(plane * queryBlocks + qb) * keyBlocks + kb] = seen == 0 ? Skip : seen == all ? Full : Partial;
        }
        var mask = new BlockSparseMask(batch, heads, queryLength, keyLength, blockSize, blockSize, blocks, null);
        return mask.HasPartialBlocks ? new BlockSparseMask(batch, heads, queryLength, keyLength, blockSize, blockSize, blocks, (bool[])visible.Clone()) : mask;
    }

    /// <summary>The mask of <paramref name="visible"/>(batch, head, query, key) over every element (FlexAttention's <c>mask_mod</c>).</summary>
    public static BlockSparseMask FromPredicate(Func<int, int, int, int, bool> visible, int queryLength, int keyLength,
        int blockSize = 128, int batch = 1, int heads = 1)
    {
        ArgumentNullException.ThrowIfNull(visible);
        RequireSizes(queryLength, keyLength, blockSize, blockSize, batch, heads);
        var dense = new bool[(long)batch * heads * queryLength * keyLength];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < queryLength; i++)
        for (int j = 0; j < keyLength; j++)
            dense[(((long)b * heads + h) * queryLength + i) * keyLength + j] = visible(b, h, i, j);
        return FromDense(dense, queryLength, keyLength, blockSize, batch, heads);
    }

    /// <summary>
    /// A mask from its block lists, in FlexAttention's layout: for each (batch, head, query block) row r, the first
    /// <paramref name="fullCounts"/>[r] entries of row r of <paramref name="fullIndices"/> ([Batch, Heads, QueryBlocks,
    /// KeyBlocks]) are its full key blocks and likewise for the partial ones, each list strictly increasing, the two
    /// disjoint. <paramref name="elements"/> ([Batch, Heads, QueryLength, KeyLength]) is needed if any block is partial.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes, counts or indices out of range, unsorted, overlapping, or a missing element mask.</exception>
    public static BlockSparseMask FromBlocks(int queryLength, int keyLength, int queryBlockSize, int keyBlockSize, int batch, int heads,
        int[] fullCounts, int[] fullIndices, int[] partialCounts, int[] partialIndices, bool[]? elements = null)
    {
        RequireSizes(queryLength, keyLength, queryBlockSize, keyBlockSize, batch, heads);
        int queryBlocks = (queryLength + queryBlockSize - 1) / queryBlockSize, keyBlocks = (keyLength + keyBlockSize - 1) / keyBlockSize;
        int rows = batch * heads * queryBlocks;
        var blocks = new byte[rows * keyBlocks];
        Fill(blocks, fullCounts, fullIndices, Full, rows, keyBlocks, nameof(fullCounts), nameof(fullIndices));
        Fill(blocks, partialCounts, partialIndices, Partial, rows, keyBlocks, nameof(partialCounts), nameof(partialIndices));
        bool partial = blocks.Contains(Partial);
        if (partial && elements is null)
            throw new ArgumentNullException(nameof(elements), "Some blocks are partial; their element mask is needed.");
        if (elements is not null && elements.LongLength != (long)batch * heads * queryLength * keyLength)
            throw new ArgumentException(
                $"elements has {elements.LongLength} entries; [{batch}, {heads}, {queryLength}, {keyLength}] needs {(long)batch * heads * queryLength * keyLength}.", nameof(elements));
        return new BlockSparseMask(batch, heads, queryLength, keyLength, queryBlockSize, keyBlockSize, blocks, partial ? (bool[])elements!.Clone() : null);
    }

    /// <summary>Whether query <paramref name="i"/> sees key <paramref name="j"/> in plane (<paramref name="b"/>, <paramref name="h"/>) of the call.</summary>
    internal bool Visible(int b, int h, int i, int j)
    {
        int plane = (Batch == 1 ? 0 : b) * Heads + (Heads == 1 ? 0 : h);
        return Blocks[(plane * QueryBlocks + i / QueryBlockSize) * KeyBlocks + j / KeyBlockSize] switch
        {
            Full => true,
            Partial => Elements![((long)plane * QueryLength + i) * KeyLength + j],
            _ => false,
        };
    }

    /// <summary>
    /// The kernel's work lists for tiles of <paramref name="blockM"/> rows and <paramref name="blockN"/> keys, cached:
    /// offsets [planes · query tiles + 1] (CSR), then per query tile its key tiles in order as tile·2 + 1 if partial.
    /// </summary>
    internal int[] KernelTiles(int blockM, int blockN)
    {
        lock (gate)
        {
            if (kernelTiles.TryGetValue((blockM, blockN), out var cached))
                return cached;
            int planes = Batch * Heads, queryTiles = (QueryLength + blockM - 1) / blockM, keyTiles = (KeyLength + blockN - 1) / blockN;
            var offsets = new List<int>(planes * queryTiles + 1) { 0 };
            var entries = new List<int>();
            for (int plane = 0; plane < planes; plane++)
            for (int qt = 0; qt < queryTiles; qt++)
            {
                int firstQueryBlock = qt * blockM / QueryBlockSize, lastQueryBlock = (Math.Min(QueryLength, (qt + 1) * blockM) - 1) / QueryBlockSize;
                for (int kt = 0; kt < keyTiles; kt++)
                {
                    int firstKeyBlock = kt * blockN / KeyBlockSize, lastKeyBlock = (Math.Min(KeyLength, (kt + 1) * blockN) - 1) / KeyBlockSize;
                    bool any = false, all = true;
                    for (int qb = firstQueryBlock; qb <= lastQueryBlock; qb++)
                        for (int kb = firstKeyBlock; kb <= lastKeyBlock; kb++)
                        {
                            byte state = Blocks[(plane * QueryBlocks + qb) * KeyBlocks + kb];
                            any |= state != Skip;
                            all &= state == Full;
                        }
                    if (any)
                        entries.Add(2 * kt + (all ? 0 : 1));
                }
                offsets.Add(entries.Count);
            }
            int[] tiles = [.. offsets, .. entries];
            kernelTiles[(blockM, blockN)] = tiles;
            return tiles;
        }
    }

    /// <summary>
    /// <see cref="KernelTiles"/> seen from the keys, for the backward's key-block kernel: offsets [planes · key tiles + 1]
    /// (CSR), then per key tile the query tiles that see it, in order, as tile·2 + 1 if partial. Cached.
    /// </summary>
    internal int[] KernelTilesByKey(int blockM, int blockN)
    {
        int[] byQuery = KernelTiles(blockM, blockN);
        lock (gate)
        {
            if (kernelTilesByKey.TryGetValue((blockM, blockN), out var cached))
                return cached;
            int planes = Batch * Heads, queryTiles = (QueryLength + blockM - 1) / blockM, keyTiles = (KeyLength + blockN - 1) / blockN;
            int entriesStart = planes * queryTiles + 1;
            var lists = new List<int>[planes * keyTiles];
            for (int i = 0; i < lists.Length; i++)
                lists[i] = [];
            for (int plane = 0; plane < planes; plane++)
            for (int qt = 0; qt < queryTiles; qt++)
            {
                int row = plane * queryTiles + qt;
                for (int e = byQuery[row]; e < byQuery[row + 1]; e++)
                {
                    int entry = byQuery[entriesStart + e];
                    lists[plane * keyTiles + (entry >> 1)].Add(2 * qt + (entry & 1));
                }
            }
            var offsets = new List<int>(lists.Length + 1) { 0 };
            foreach (var list in lists)
                offsets.Add(offsets[^1] + list.Count);
            int[] tiles = [.. offsets, .. lists.SelectMany(list => list)];
            kernelTilesByKey[(blockM, blockN)] = tiles;
            return tiles;
        }
    }

    /// <summary>
    /// The order a grid of <paramref name="batch"/> · <paramref name="heads"/> · query tiles groups should run in: by
    /// their number of key tiles, most first (so the longest rows do not start last and leave a tail), each entry
    /// (batch·heads + head)·query tiles + query tile. Cached.
    /// </summary>
    internal int[] GroupOrder(int blockM, int blockN, int batch, int heads)
    {
        int[] tiles = KernelTiles(blockM, blockN);
        lock (gate)
        {
            if (groupOrders.TryGetValue((blockM, blockN, batch, heads), out var cached))
                return cached;
            int queryTiles = (QueryLength + blockM - 1) / blockM;
            var work = new int[batch * heads * queryTiles];
            for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            for (int qt = 0; qt < queryTiles; qt++)
            {
                int row = ((Batch == 1 ? 0 : b) * Heads + (Heads == 1 ? 0 : h)) * queryTiles + qt;
                work[(b * heads + h) * queryTiles + qt] = tiles[row + 1] - tiles[row];
            }
            int[] order = [.. Enumerable.Range(0, work.Length).OrderByDescending(g => work[g])];
            groupOrders[(blockM, blockN, batch, heads)] = order;
            return order;
        }
    }

    private static void RequireSizes(int queryLength, int keyLength, int queryBlockSize, int keyBlockSize, int batch, int heads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queryLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(keyLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(queryBlockSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(keyBlockSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
    }

    private static void Fill(byte[] blocks, int[] counts, int[] indices, byte state, int rows, int keyBlocks, string countsName, string indicesName)
    {
        ArgumentNullException.ThrowIfNull(counts, countsName);
        ArgumentNullException.ThrowIfNull(indices, indicesName);
        if (counts.Length != rows)
            throw new ArgumentException($"{countsName} has {counts.Length} entries; [batch, heads, query blocks] needs {rows}.", countsName);
        if (indices.Length != rows * keyBlocks)
            throw new ArgumentException($"{indicesName} has {indices.Length} entries; [batch, heads, query blocks, key blocks] needs {rows * keyBlocks}.", indicesName);
        for (int r = 0; r < rows; r++)
        {
            if (counts[r] < 0 || counts[r] > keyBlocks)
                throw new ArgumentOutOfRangeException(countsName, counts[r], $"{countsName}[{r}] is {counts[r]}; it must be between 0 and {keyBlocks} key blocks.");
            for (int n = 0; n < counts[r]; n++)
            {
                int kb = indices[r * keyBlocks + n];
                if (kb < 0 || kb >= keyBlocks)
                    throw new ArgumentOutOfRangeException(indicesName, kb, $"{indicesName}[{r}, {n}] is {kb}; key blocks run from 0 to {keyBlocks - 1}.");
                if (n > 0 && kb <= indices[r * keyBlocks + n - 1])
                    throw new ArgumentException($"{indicesName} row {r} is not strictly increasing at entry {n} ({indices[r * keyBlocks + n - 1]} then {kb}).", indicesName);
                if (blocks[r * keyBlocks + kb] != Skip)
                    throw new ArgumentException($"Key block {kb} of row {r} is listed as both full and partial.", indicesName);
                blocks[r * keyBlocks + kb] = state;
            }
        }
    }
}
