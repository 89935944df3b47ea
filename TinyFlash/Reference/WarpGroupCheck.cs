using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Kernels.TensorCore;
using TinyFlash.Kernels.TensorCore.Instructions;
using TinyFlash.Numerics;
using Half = System.Half;

namespace TinyFlash.Reference;

/// <summary>
/// Checks the warpgroup products (<see cref="WarpGroupProbeKernel{TElement}"/>) on an engine's device against the host:
/// on a CUDA Hopper device the instructions themselves, elsewhere their twins. Both must give the same products, or the
/// CPU tests of the warpgroup kernel would prove nothing about the GPU.
/// </summary>
internal static class WarpGroupCheck
{
    /// <summary>
    /// The largest error a product may have: the operands are exact in fp32 and so are their products, so what remains is
    /// the order of 64 fp32 additions of values near 10 (about 1e-5); a wrong element, row or swizzle is off by units.
    /// </summary>
    public const double Tolerance = 1e-3;

    /// <summary>The largest error of each product (A·Bᵀ from shared memory, A·B with A in registers) for random operands of <paramref name="type"/>.</summary>
    public static (double SharedShared, double RegisterShared) Run(FlashEngine engine, ElementType type)
    {
        Func<float, ushort> bits = type == ElementType.BFloat16 ? BFloat16Bits.FromFloat : x => BitConverter.HalfToUInt16Bits((Half)x);
        Func<float, float> round = type == ElementType.BFloat16 ? x => BFloat16Bits.ToFloat(BFloat16Bits.FromFloat(x)) : x => (float)(Half)x;
        float[] a = RandomTensors.Normal(64 * 64, 11, round), b = RandomTensors.Normal(64 * 64, 12, round);
        var element = type == ElementType.BFloat16 ? typeof(BFloat16Element) : typeof(Float16Element);
        var kernel = typeof(WarpGroupProbeKernel<>).MakeGenericType(element);
        double sharedShared = Error(engine, kernel, nameof(WarpGroupProbeKernel<Float16Element>.SharedShared), a, b, bits,
            (i, j) => Enumerable.Range(0, 64).Sum(k => (double)a[64 * i + k] * b[64 * j + k]));
        double registerShared = Error(engine, kernel, nameof(WarpGroupProbeKernel<Float16Element>.RegisterShared), a, b, bits,
            (i, j) => Enumerable.Range(0, 64).Sum(k => (double)a[64 * i + k] * b[64 * k + j]));
        return (sharedShared, registerShared);
    }

    private static double Error(FlashEngine engine, Type kernel, string method, float[] a, float[] b, Func<float, ushort> bits,
        Func<int, int, double> expected)
    {
        var accelerator = engine.Accelerator;
        using var da = accelerator.Allocate1D(Array.ConvertAll(a, x => bits(x)));
        using var db = accelerator.Allocate1D(Array.ConvertAll(b, x => bits(x)));
        using var dd = accelerator.Allocate1D<float>(64 * 64);
        dd.MemSetToZero();
        var (launch, _) = engine.Kernels.Load<Action<AcceleratorStream, KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>>>(
            kernel.GetMethod(method)!);
        launch(accelerator.DefaultStream,
            new KernelConfig(new Index1D(1), new Index1D(128), SharedMemoryConfig.RequestDynamic<ushort>(WarpGroupProbeKernel<Float16Element>.SharedBytes / 2)),
            da.View, db.View, dd.View);
        accelerator.Synchronize();
        float[] d = dd.GetAsArray1D();
        double error = 0;
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < 64; j++)
                error = Math.Max(error, double.IsFinite(d[64 * i + j]) ? Math.Abs(d[64 * i + j] - expected(i, j)) : double.PositiveInfinity);
        return error;
    }
}
