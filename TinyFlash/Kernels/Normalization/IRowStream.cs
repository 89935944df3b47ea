using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;
using TinyFlash.Kernels.Elements;
using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Kernels.Normalization;

/// <summary>
/// Where the norm backward's streamed tensors (dy, x and the residual) come from when a pass converts a chunk of a
/// row: two shared-memory stages that the copies of the group's next chunk fill while it works on this one
/// (<see cref="StagedRows{T}"/>), or global memory at the time of reading (<see cref="DirectRows{T}"/>: OpenCL, the
/// forward's reads, the rows' recomputed chunks). A slot is a quad's place in its chunk, (column − chunk start)/4 =
/// t + j·G for quad j of thread t, so a warp's slots are consecutive; each thread copies and reads only its own slots,
/// and needs no barrier.
/// </summary>
/// <typeparam name="T">Storage element.</typeparam>
/// <typeparam name="TSelf">The implementing struct (kernels hold it by value).</typeparam>
internal interface IRowStream<T, TSelf> where T : unmanaged where TSelf : struct, IRowStream<T, TSelf>
{
    /// <summary>The stream for <paramref name="tensors"/> tensors of <paramref name="slots"/> quads a chunk (K·G).</summary>
    TSelf Open(int tensors, int slots);

    /// <summary>
    /// Starts copying quad <paramref name="slot"/> of tensor <paramref name="tensor"/> into stage
    /// <paramref name="stage"/>: elements <paramref name="index"/> … + 3 of <paramref name="source"/> (device address
    /// <paramref name="sourceAddress"/>), the first <paramref name="left"/> of them, <paramref name="whole"/> as for
    /// <see cref="ElementQuads.Fetch"/>. Direct: nothing.
    /// </summary>
    void Issue(int stage, int tensor, int slot, ArrayView<T> source, ulong sourceAddress, int index, int left, bool whole);

    /// <summary>Closes the copies this thread issued so far into a group of their own (the pipeline's first chunk).</summary>
    void Commit();

    /// <summary>
    /// Closes the copies this thread issued for the next chunk (none on a block's last) into a group and waits until
    /// the group before it, the current chunk's, has landed: every chunk's copies are a group of their own, the first
    /// closed by <see cref="Commit"/>.
    /// </summary>
    void Advance();

    /// <summary>The quad <see cref="Issue"/> copied into stage <paramref name="stage"/>; direct: fetched from <paramref name="source"/> now.</summary>
    Elements4<T> Read(int stage, int tensor, int slot, ArrayView<T> source, int index, int left, bool whole);

    /// <summary>
    /// Starts copying element <paramref name="index"/> of a per-row statistic (<paramref name="statistic"/> 0 or 1: the
    /// mean and rstd, device address <paramref name="sourceAddress"/>) into this thread's place in stage
    /// <paramref name="stage"/>, with the quads of the row's first chunk. Direct: nothing.
    /// </summary>
    void IssueStatistic(int stage, int statistic, ArrayView<float> source, ulong sourceAddress, int index);

    /// <summary>The statistic <see cref="IssueStatistic"/> copied into stage <paramref name="stage"/>; direct: read from <paramref name="source"/> now.</summary>
    float ReadStatistic(int stage, int statistic, ArrayView<float> source, int index);
}

/// <summary>
/// Two stages of dynamic shared memory, [stage][tensor][slot] quads, then [stage][statistic][thread] floats: on CUDA the
/// copies are <c>cp.async</c> (8 bytes a quad in fp16 and bf16, 16 in fp32, 4 a statistic) where the quad is whole and
/// aligned, so that the next chunk's reads are in flight, in no register, while the group works on this one; elsewhere,
/// and for quads the host could not align, the copy is an ordinary fetch and store, done at once. Every thread copies
/// its own statistics (a warp's 32 copies of one float are one request): loaded into registers instead, the row's
/// mean and rstd went to uniform registers right after their load, and each warp waited out the load's round trip
/// there once a row, a row ahead or not (Nsight Compute on the H100, 2026-12-07: 5 % of the fp16 backward's stall
/// samples, every warp of a group at once after the row's barrier; streamed, the time did not measurably change,
/// session 11 run 1 in docs/benchmarks.md).
/// </summary>
internal readonly struct StagedRows<T> : IRowStream<T, StagedRows<T>> where T : unmanaged
{
    private readonly ArrayView<Elements4<T>> quads;
    private readonly ArrayView<float> statistics;
    private readonly uint address, statisticsAddress;
    private readonly int tensors, slots;

    private StagedRows(ArrayView<Elements4<T>> quads, ArrayView<float> statistics, uint address, uint statisticsAddress, int tensors, int slots)
    {
        this.quads = quads;
        this.statistics = statistics;
        this.address = address;
        this.statisticsAddress = statisticsAddress;
        this.tensors = tensors;
        this.slots = slots;
    }

    /// <summary>Per-row statistics a stage holds a copy of for each thread (the mean and rstd).</summary>
    private const int Statistics = 2;

    /// <summary>Dynamic shared memory the stages take for groups of <paramref name="threads"/>, in bytes.</summary>
    public static int Bytes(int tensors, int slots, int threads) => QuadBytes(tensors, slots) + 2 * Statistics * threads * sizeof(float);

    private static int QuadBytes(int tensors, int slots) => 2 * tensors * slots * Interop.SizeOf<Elements4<T>>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public StagedRows<T> Open(int tensors, int slots)
    {
        uint start = 0;
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("mov.u32 %0, __dyn_shared_alloca;", out start);
        int quadBytes = QuadBytes(tensors, slots);
        var dynamic = SharedMemory.GetDynamic<T>();
        return new StagedRows<T>(dynamic.Cast<Elements4<T>>(), dynamic.Cast<float>().SubView(quadBytes / sizeof(float)), start,
            start + (uint)quadBytes, tensors, slots);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Issue(int stage, int tensor, int slot, ArrayView<T> source, ulong sourceAddress, int index, int left, bool whole)
    {
        int at = Slot(stage, tensor, slot);
        if (CudaAsm.IsSupported && whole && left >= 4)
        {
            int bytes = Interop.SizeOf<Elements4<T>>();
            CpAsync.Copy(address + (uint)(at * bytes), sourceAddress + (ulong)(uint)index * (ulong)Interop.SizeOf<T>(), bytes);
            return;
        }
        quads[at] = ElementQuads.Fetch(source, index, left, whole);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Commit() => CpAsync.Commit();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Advance()
    {
        CpAsync.Commit();
        CpAsync.WaitPending(1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Elements4<T> Read(int stage, int tensor, int slot, ArrayView<T> source, int index, int left, bool whole) =>
        quads[Slot(stage, tensor, slot)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void IssueStatistic(int stage, int statistic, ArrayView<float> source, ulong sourceAddress, int index)
    {
        int at = StatisticSlot(stage, statistic);
        if (CudaAsm.IsSupported)
            CpAsync.Copy(statisticsAddress + (uint)(at * sizeof(float)), sourceAddress + (ulong)(uint)index * sizeof(float), sizeof(float));
        else
            statistics[at] = source[index];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ReadStatistic(int stage, int statistic, ArrayView<float> source, int index) => statistics[StatisticSlot(stage, statistic)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Slot(int stage, int tensor, int slot) => (stage * tensors + tensor) * slots + slot;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int StatisticSlot(int stage, int statistic) => (stage * Statistics + statistic) * Group.DimX + Group.IdxX;
}

/// <summary>
/// No stages: each pass fetches its quads from global memory when it reads them (every quad's before any is
/// converted). OpenCL's: ILGPU 1.5.3 declares dynamic local memory at program scope, which PoCL's concurrent groups
/// would share (<see cref="Shared.StaticSharedTiles{TFloat4s}"/>).
/// </summary>
internal readonly struct DirectRows<T> : IRowStream<T, DirectRows<T>> where T : unmanaged
{
    public DirectRows<T> Open(int tensors, int slots) => default;

    public void Issue(int stage, int tensor, int slot, ArrayView<T> source, ulong sourceAddress, int index, int left, bool whole)
    {
    }

    public void Commit()
    {
    }

    public void Advance()
    {
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Elements4<T> Read(int stage, int tensor, int slot, ArrayView<T> source, int index, int left, bool whole) =>
        ElementQuads.Fetch(source, index, left, whole);

    public void IssueStatistic(int stage, int statistic, ArrayView<float> source, ulong sourceAddress, int index)
    {
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float ReadStatistic(int stage, int statistic, ArrayView<float> source, int index) => source[index];
}
