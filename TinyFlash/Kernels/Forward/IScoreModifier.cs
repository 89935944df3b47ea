namespace TinyFlash.Kernels.Forward;

/// <summary>
/// What a kernel does to each score between Q·Kᵀ and the softmax, beyond the band mask: a struct type parameter,
/// so that calls without any (<see cref="NoScoreModifier"/>) compile to exactly the kernel they had before.
/// </summary>
internal interface IScoreModifier
{
    /// <summary>
    /// Whether every score is left as it is: the kernels skip <see cref="Apply"/> and <see cref="Slope"/> then. A
    /// compile-time constant without modifiers; with them a test uniform across the block, true for dropout alone
    /// (Nsight Compute on the H200, d64 forward with dropout at B 4, H 32, N 4096: 1.32e9 warp instructions with the
    /// test, 3.14e9 running the unused softcap, ALiBi and bias code; docs/benchmarks.md).
    /// </summary>
    bool IsIdentity { get; }

    /// <summary>
    /// The modified score of query <paramref name="row"/> and key <paramref name="key"/> (both counted within the
    /// sequence), in the kernel's own units (see <see cref="ScoreModifiers"/>).
    /// </summary>
    float Apply(float score, int row, int key);

    /// <summary>
    /// d<see cref="Apply"/>/d(score) at <paramref name="score"/> (before modification): 1 − tanh²(x/c) under a softcap
    /// c, else 1 (ALiBi and the bias add constants). The backward pass's chain rule.
    /// </summary>
    float Slope(float score);

    /// <summary>Whether probabilities are dropped out (the kernels skip <see cref="DropoutWords"/> when not).</summary>
    bool Drops { get; }

    /// <summary>
    /// The Philox words of dropout for the row pair whose top row is <paramref name="rowIndex"/> (in the log-sum-exp
    /// tensor's order; rows g and g + 8 of 16 positions) and the 16-key block and quarter of key <paramref name="key"/>
    /// (counted from the sequence's first key): 16 elements a byte each, the top row's keys 4u … 4u + 3 word X and
    /// 4u + 8 … 4u + 11 word Y, the bottom row's Z and W (<see cref="Numerics.Philox.AttentionWords"/>). Regenerated,
    /// never stored.
    /// </summary>
    Numerics.Philox DropoutWords(int rowIndex, int key);

    /// <summary>Which of a word's four elements (bytes) dropout keeps: 0x80 in each kept byte, else 0 (<see cref="Numerics.Philox.AttentionKeptBytes"/>).</summary>
    uint KeptBytes(uint word);

    /// <summary>Dropout's factor of a kept element, 1/(1 − p′) (1 without dropout): what masked sums are scaled by once.</summary>
    float KeepScale { get; }

    /// <summary>Dropout's factor, 1/(1 − p′) or 0, of an element whose kept bit is bit 0 of <paramref name="kept"/>.</summary>
    float KeepFactor(uint kept);
}

/// <summary>A score modifier that can build itself for a query block (how a kernel gets one from its type alone).</summary>
/// <typeparam name="TSelf">The implementing struct.</typeparam>
internal interface IScoreModifier<TSelf> : IScoreModifier where TSelf : struct, IScoreModifier<TSelf>
{
    /// <summary>The modifier for <paramref name="block"/>, for a kernel whose scores are logits divided by <paramref name="toLogit"/>.</summary>
    TSelf For<T>(in AttentionParams<T> p, in QueryBlock block, float toLogit) where T : unmanaged;

    /// <summary>This modifier for one key tile: <paramref name="masked"/> says whether a block-sparse mask's element mask applies there.</summary>
    TSelf ForTile(bool masked);
}
