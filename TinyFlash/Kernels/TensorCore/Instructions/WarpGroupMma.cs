using System.Runtime.CompilerServices;
using ILGPU.Runtime.Cuda;
using TinyFlash.Kernels.TensorCore.Fragments;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// Hopper's warpgroup matrix multiply (<c>wgmma.mma_async</c>, sm_90a): the four warps of a warpgroup (128 threads
/// from a multiple of 128) compute one 64×64×16 product together and asynchronously: issued, committed as a group,
/// and waited for before its accumulators are touched again. B always comes from shared memory and A from shared
/// memory or from registers, matrices in shared memory being named by descriptors (<see cref="Descriptor"/>) of tiles
/// stored in 64-element panels with the 128-byte swizzle (<see cref="SwizzledRows"/>).
/// <para>
/// Registers: warp w of the group holds rows 16w … 16w + 15 of the 64, as four <see cref="MmaTile"/>s of 16 columns in
/// the m16n8 C-fragment order the <c>mma.sync</c> kernels use (the instruction's accumulator layout is exactly that), and
/// an A operand from registers is the warp's m16n8k16 A <see cref="Fragment"/>. So the online softmax, masks and
/// stores of those kernels work on these accumulators unchanged. N = 64 a call keeps the operands (32 accumulators, a
/// descriptor or four A registers, one for B, the scale flag) within ILGPU's 44.
/// </para>
/// The twins (<see cref="WarpGroupEmulation"/>) decode the same descriptors and read the same swizzled tiles.
/// </summary>
internal static class WarpGroupMma
{
    /// <summary>Bytes of one row of a swizzled panel (64 16-bit elements), and of the 8-row repeat of its swizzle.</summary>
    public const uint RowBytes = 128, SwizzleBytes = 1024;

    /// <summary>
    /// The descriptor of a matrix at shared address <paramref name="address"/> (a multiple of 16 whose 1024-byte block is
    /// the swizzle's, so the base offset is 0), 128-byte swizzle: <paramref name="strideBytes"/> apart the 8-row groups,
    /// <paramref name="leadingBytes"/> apart the 64-element panels along a row of an MN-major (transposed) matrix (unused
    /// when K is the contiguous dimension). Fields (PTX ISA, "Matrix Descriptor Format"): start address, leading and
    /// stride byte offsets, each in 16-byte units in bits 0–13, 16–29, 32–45; swizzle mode 1 (128 bytes) in bits 62–63.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Descriptor(uint address, uint leadingBytes, uint strideBytes) =>
        (ulong)((address & 0x3FFFF) >> 4) | (ulong)((leadingBytes >> 4) & 0x3FFF) << 16 | (ulong)((strideBytes >> 4) & 0x3FFF) << 32 | 1ul << 62;

    /// <summary><paramref name="descriptor"/> moved on by <paramref name="bytes"/> (a multiple of 16) within its shared window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Advance(ulong descriptor, uint bytes) => descriptor + (bytes >> 4);

    /// <summary>
    /// <c>wgmma.fence</c>: orders this thread's register writes before the next warpgroup products that read or write
    /// those registers (accumulators written by the softmax, A fragments just packed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fence()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("wgmma.fence.sync.aligned;");
    }

    /// <summary>Closes the group of products issued since the last commit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Commit()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("wgmma.commit_group.sync.aligned;");
    }

    /// <summary>Waits until every committed product of this warpgroup has finished (its accumulators written, its shared reads done).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Wait()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("wgmma.wait_group.sync.aligned 0;");
    }

    /// <summary>
    /// <c>fence.proxy.async.shared::cta</c>: makes this thread's completed shared-memory writes (its <c>cp.async</c> copies
    /// once waited for) visible to the warpgroup products, which read shared memory through the async proxy. Each writing
    /// thread issues it before the group barrier that precedes the products.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PublishSharedWrites()
    {
        if (CudaAsm.IsSupported)
            CudaAsm.Emit("fence.proxy.async.shared::cta;");
    }

    /// <summary>
    /// D = A·Bᵀ (+ D if <paramref name="accumulate"/>) for 64 rows × 64 columns × 16 k: A (64 × 16) and B (64 × 16)
    /// both with k contiguous (K-major) in shared memory at descriptors <paramref name="a"/> and <paramref name="b"/>;
    /// D is <paramref name="t0"/> … <paramref name="t3"/> (columns 0–15 … 48–63 of this warp's 16 rows);
    /// <paramref name="shared"/> is the block the descriptors point into (what the twin reads).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SharedShared<TElement>(ref MmaTile t0, ref MmaTile t1, ref MmaTile t2, ref MmaTile t3, SharedBlock shared, ulong a, ulong b,
        bool accumulate)
        where TElement : struct, ITensorElement
    {
        if (!CudaAsm.IsSupported)
        {
            var result = WarpGroupEmulation.SharedShared<TElement>(new WarpGroupTiles(t0, t1, t2, t3), shared, a, b, accumulate);
            t0 = result.T0;
            t1 = result.T1;
            t2 = result.T2;
            t3 = result.T3;
            return;
        }
        Ref<float> d0 = t0.C0, d1 = t0.C1, d2 = t0.C2, d3 = t0.C3, d4 = t0.C4, d5 = t0.C5, d6 = t0.C6, d7 = t0.C7;
        Ref<float> d8 = t1.C0, d9 = t1.C1, d10 = t1.C2, d11 = t1.C3, d12 = t1.C4, d13 = t1.C5, d14 = t1.C6, d15 = t1.C7;
        Ref<float> d16 = t2.C0, d17 = t2.C1, d18 = t2.C2, d19 = t2.C3, d20 = t2.C4, d21 = t2.C5, d22 = t2.C6, d23 = t2.C7;
        Ref<float> d24 = t3.C0, d25 = t3.C1, d26 = t3.C2, d27 = t3.C3, d28 = t3.C4, d29 = t3.C5, d30 = t3.C6, d31 = t3.C7;
        Input<ulong> da = a, db = b;
        Input<int> scale = accumulate ? 1 : 0;
        if (default(TElement).IsBFloat16)
            CudaAsm.EmitRef(
                "{ .reg .pred p; setp.ne.b32 p, %34, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0; }",
                ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref da, ref db, ref scale);
        else
            CudaAsm.EmitRef(
                "{ .reg .pred p; setp.ne.b32 p, %34, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0; }",
                ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref da, ref db, ref scale);
        t0.C0 = d0.Value; t0.C1 = d1.Value; t0.C2 = d2.Value; t0.C3 = d3.Value; t0.C4 = d4.Value; t0.C5 = d5.Value; t0.C6 = d6.Value; t0.C7 = d7.Value;
        t1.C0 = d8.Value; t1.C1 = d9.Value; t1.C2 = d10.Value; t1.C3 = d11.Value; t1.C4 = d12.Value; t1.C5 = d13.Value; t1.C6 = d14.Value; t1.C7 = d15.Value;
        t2.C0 = d16.Value; t2.C1 = d17.Value; t2.C2 = d18.Value; t2.C3 = d19.Value; t2.C4 = d20.Value; t2.C5 = d21.Value; t2.C6 = d22.Value; t2.C7 = d23.Value;
        t3.C0 = d24.Value; t3.C1 = d25.Value; t3.C2 = d26.Value; t3.C3 = d27.Value; t3.C4 = d28.Value; t3.C5 = d29.Value; t3.C6 = d30.Value; t3.C7 = d31.Value;
    }

    /// <summary>
    /// D += A·B for 64 rows × 64 columns × 16 k: A is this warp's 16 × 16 <see cref="Fragment"/> (the warpgroup's four
    /// make the 64 rows), B (16 k × 64 columns) has its columns contiguous (MN-major: a [k][n] tile, read transposed) in
    /// shared memory at descriptor <paramref name="b"/>; D is <paramref name="t0"/> … <paramref name="t3"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RegisterShared<TElement>(ref MmaTile t0, ref MmaTile t1, ref MmaTile t2, ref MmaTile t3, SharedBlock shared, Fragment a,
        ulong b)
        where TElement : struct, ITensorElement
    {
        if (!CudaAsm.IsSupported)
        {
            var result = WarpGroupEmulation.RegisterShared<TElement>(new WarpGroupTiles(t0, t1, t2, t3), shared, a, b);
            t0 = result.T0;
            t1 = result.T1;
            t2 = result.T2;
            t3 = result.T3;
            return;
        }
        Ref<float> d0 = t0.C0, d1 = t0.C1, d2 = t0.C2, d3 = t0.C3, d4 = t0.C4, d5 = t0.C5, d6 = t0.C6, d7 = t0.C7;
        Ref<float> d8 = t1.C0, d9 = t1.C1, d10 = t1.C2, d11 = t1.C3, d12 = t1.C4, d13 = t1.C5, d14 = t1.C6, d15 = t1.C7;
        Ref<float> d16 = t2.C0, d17 = t2.C1, d18 = t2.C2, d19 = t2.C3, d20 = t2.C4, d21 = t2.C5, d22 = t2.C6, d23 = t2.C7;
        Ref<float> d24 = t3.C0, d25 = t3.C1, d26 = t3.C2, d27 = t3.C3, d28 = t3.C4, d29 = t3.C5, d30 = t3.C6, d31 = t3.C7;
        Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3;
        Input<ulong> db = b;
        Input<int> scale = 1;
        if (default(TElement).IsBFloat16)
            CudaAsm.EmitRef(
                "{ .reg .pred p; setp.ne.b32 p, %37, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1; }",
                ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a0, ref a1, ref a2, ref a3, ref db, ref scale);
        else
            CudaAsm.EmitRef(
                "{ .reg .pred p; setp.ne.b32 p, %37, 0; wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1; }",
                ref d0, ref d1, ref d2, ref d3, ref d4, ref d5, ref d6, ref d7, ref d8, ref d9, ref d10, ref d11, ref d12, ref d13, ref d14, ref d15, ref d16, ref d17, ref d18, ref d19, ref d20, ref d21, ref d22, ref d23, ref d24, ref d25, ref d26, ref d27, ref d28, ref d29, ref d30, ref d31, ref a0, ref a1, ref a2, ref a3, ref db, ref scale);
        t0.C0 = d0.Value; t0.C1 = d1.Value; t0.C2 = d2.Value; t0.C3 = d3.Value; t0.C4 = d4.Value; t0.C5 = d5.Value; t0.C6 = d6.Value; t0.C7 = d7.Value;
        t1.C0 = d8.Value; t1.C1 = d9.Value; t1.C2 = d10.Value; t1.C3 = d11.Value; t1.C4 = d12.Value; t1.C5 = d13.Value; t1.C6 = d14.Value; t1.C7 = d15.Value;
        t2.C0 = d16.Value; t2.C1 = d17.Value; t2.C2 = d18.Value; t2.C3 = d19.Value; t2.C4 = d20.Value; t2.C5 = d21.Value; t2.C6 = d22.Value; t2.C7 = d23.Value;
        t3.C0 = d24.Value; t3.C1 = d25.Value; t3.C2 = d26.Value; t3.C3 = d27.Value; t3.C4 = d28.Value; t3.C5 = d29.Value; t3.C6 = d30.Value; t3.C7 = d31.Value;
    }
}
