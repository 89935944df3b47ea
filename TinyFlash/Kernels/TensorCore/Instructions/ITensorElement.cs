using System.Runtime.CompilerServices;
using ILGPU.Runtime.Cuda;
using TinyFlash.Kernels.Elements;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// A 16-bit input type of the tensor cores: its <c>mma.sync</c> m16n8k16 with fp32 accumulators and its paired
/// rounding from fp32. Implementations are empty structs used as type parameters (the PTX text must be a constant,
/// so each type spells out its own instructions); the twins are shared (<see cref="MmaEmulation"/>).
/// </summary>
internal interface ITensorElement
{
    /// <summary>
    /// <c>c += a·b</c> for one 16×8 tile: <paramref name="a"/> is the 16×16 A fragment, <paramref name="b0"/> and
    /// <paramref name="b1"/> the 16×8 B fragment (k 0–7, 8–15), <paramref name="c0"/>…<paramref name="c3"/> the
    /// accumulator fragment (rows g, g + 8; columns 2t, 2t + 1).
    /// </summary>
    void MultiplyAccumulate(ref float c0, ref float c1, ref float c2, ref float c3, Fragment a, uint b0, uint b1);

    /// <summary>Rounds two floats to nearest even and packs them, <paramref name="low"/> in bits 0–15.</summary>
    uint Pack(float low, float high);

    /// <summary>The value of one element's bits (used by the twin).</summary>
    float Widen(uint bits);

    /// <summary>Whether this is bfloat16 (the warpgroup instructions pick their PTX type by it, a constant).</summary>
    bool IsBFloat16 { get; }
}

/// <summary>IEEE fp16 inputs.</summary>
internal readonly struct Float16Element : ITensorElement
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyAccumulate(ref float c0, ref float c1, ref float c2, ref float c3, Fragment a, uint b0, uint b1)
    {
        if (!CudaAsm.IsSupported)
        {
            var product = MmaEmulation.Product<Float16Element>(a, b0, b1);
            c0 += product.C0;
            c1 += product.C1;
            c2 += product.C2;
            c3 += product.C3;
            return;
        }
        Ref<float> d0 = c0, d1 = c1, d2 = c2, d3 = c3;
        Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, k0 = b0, k1 = b1;
        CudaAsm.EmitRef(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref k0, ref k1);
        c0 = d0.Value;
        c1 = d1.Value;
        c2 = d2.Value;
        c3 = d3.Value;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Pack(float low, float high)
    {
        if (!CudaAsm.IsSupported)
            return default(Float16Codec).FromFloat(low) | (uint)default(Float16Codec).FromFloat(high) << 16;
        CudaAsm.Emit("cvt.rn.f16x2.f32 %0, %1, %2;", out uint packed, high, low);
        return packed;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Widen(uint bits) => default(Float16Codec).ToFloat((ushort)bits);

    /// <inheritdoc/>
    public bool IsBFloat16 => false;
}

/// <summary>bfloat16 inputs.</summary>
internal readonly struct BFloat16Element : ITensorElement
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MultiplyAccumulate(ref float c0, ref float c1, ref float c2, ref float c3, Fragment a, uint b0, uint b1)
    {
        if (!CudaAsm.IsSupported)
        {
            var product = MmaEmulation.Product<BFloat16Element>(a, b0, b1);
            c0 += product.C0;
            c1 += product.C1;
            c2 += product.C2;
            c3 += product.C3;
            return;
        }
        Ref<float> d0 = c0, d1 = c1, d2 = c2, d3 = c3;
        Input<uint> a0 = a.R0, a1 = a.R1, a2 = a.R2, a3 = a.R3, k0 = b0, k1 = b1;
        CudaAsm.EmitRef(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};",
            ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref k0, ref k1);
        c0 = d0.Value;
        c1 = d1.Value;
        c2 = d2.Value;
        c3 = d3.Value;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Pack(float low, float high)
    {
        if (!CudaAsm.IsSupported)
            return default(BFloat16Codec).FromFloat(low) | (uint)default(BFloat16Codec).FromFloat(high) << 16;
        CudaAsm.Emit("cvt.rn.bf16x2.f32 %0, %1, %2;", out uint packed, high, low);
        return packed;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Widen(uint bits) => default(BFloat16Codec).ToFloat((ushort)bits);

    /// <inheritdoc/>
    public bool IsBFloat16 => true;
}
