using System.Runtime.CompilerServices;

namespace TinyFlash.Kernels.Normalization;

/// <summary>One step of a norm kernel, applied to each quad a thread holds.</summary>
internal interface IQuadStep<TState> where TState : struct
{
    /// <summary>
    /// The step on one quad: <paramref name="state"/> is its registers, <paramref name="column"/> its first feature (at
    /// or past the row's end for quads of a chunk that overhangs it).
    /// </summary>
    void Apply(ref TState state, int column);
}

/// <summary>
/// The quads of a row one thread holds in registers, a number fixed when the kernel is compiled: quad j of the thread
/// starts at feature column + j·stride (stride = 4 × threads a row, so a group's loads of one j are consecutive). ILGPU
/// does not unroll loops and would put an indexed array in local memory; this type spells the quads out instead,
/// <see cref="OneQuad{TState}"/> doubled by <see cref="QuadPair{THalf, TState}"/>, so that every quad is a named
/// register set and <see cref="ForEach"/> inlines to straight-line code.
/// </summary>
internal interface IRowQuads<TState> where TState : struct
{
    /// <summary>Quads a thread holds (1, 2, 4, 8, …).</summary>
    int Quads { get; }

    /// <summary>Applies <paramref name="step"/> to every quad, in order.</summary>
    void ForEach<TStep>(ref TStep step, int column, int stride) where TStep : struct, IQuadStep<TState>;
}

/// <summary>A single quad.</summary>
internal struct OneQuad<TState> : IRowQuads<TState> where TState : struct
{
    public TState State;

    public readonly int Quads => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ForEach<TStep>(ref TStep step, int column, int stride) where TStep : struct, IQuadStep<TState> =>
        step.Apply(ref State, column);
}

/// <summary>Twice <typeparamref name="THalf"/>'s quads: its quads, then as many again from column + half·stride.</summary>
internal struct QuadPair<THalf, TState> : IRowQuads<TState>
    where THalf : struct, IRowQuads<TState>
    where TState : struct
{
    public THalf Low, High;

    public readonly int Quads => 2 * default(THalf).Quads;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ForEach<TStep>(ref TStep step, int column, int stride) where TStep : struct, IQuadStep<TState>
    {
        Low.ForEach(ref step, column, stride);
        High.ForEach(ref step, column + default(THalf).Quads * stride, stride);
    }
}
