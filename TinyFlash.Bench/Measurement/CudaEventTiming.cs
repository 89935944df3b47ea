using System.Runtime.InteropServices;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Bench.Measurement;

/// <summary>
/// Device time of an operation on CUDA, the way the PyTorch baselines take theirs (<c>baselines/torch_sdpa.py</c>'s
/// <c>time_ms</c>): after three warm-up calls, twenty calls each between two CUDA events on the engine's stream, waited
/// for one by one, and their median. Unlike <see cref="Timing.Measure"/>'s wall clock it leaves out the host's launch
/// latency and the wake-up after each synchronisation, and keeps the gaps between the kernels of one call.
/// </summary>
internal static partial class CudaEventTiming
{
    private const string Library = "cuda";

    static CudaEventTiming() =>
        NativeLibrary.SetDllImportResolver(typeof(CudaEventTiming).Assembly, (name, assembly, path) =>
            name == Library && OperatingSystem.IsWindows() ? NativeLibrary.Load("nvcuda", assembly, path) : IntPtr.Zero);

    /// <summary>The median milliseconds of <paramref name="operation"/> by CUDA events; null off CUDA.</summary>
    public static double? MedianMs(Accelerator accelerator, Action operation, int warmUp = 3, int repeat = 20)
    {
        if (accelerator.DefaultStream is not CudaStream stream)
            return null;
        for (int i = 0; i < warmUp; i++)
            operation();
        accelerator.Synchronize();
        Check(cuEventCreate(out IntPtr start, 0), nameof(cuEventCreate));
        Check(cuEventCreate(out IntPtr end, 0), nameof(cuEventCreate));
        try
        {
            var times = new double[repeat];
            for (int i = 0; i < repeat; i++)
            {
                Check(cuEventRecord(start, stream.StreamPtr), nameof(cuEventRecord));
                operation();
                Check(cuEventRecord(end, stream.StreamPtr), nameof(cuEventRecord));
                Check(cuEventSynchronize(end), nameof(cuEventSynchronize));
                Check(cuEventElapsedTime(out float ms, start, end), nameof(cuEventElapsedTime));
                times[i] = ms;
            }
            Array.Sort(times);
            return times[repeat / 2];
        }
        finally
        {
            cuEventDestroy_v2(start);
            cuEventDestroy_v2(end);
        }
    }

    private static void Check(int result, string call)
    {
        if (result != 0)
            throw new InvalidOperationException($"{call} failed with CUDA error {result}.");
    }

    [LibraryImport(Library)]
    private static partial int cuEventCreate(out IntPtr evt, uint flags);

    [LibraryImport(Library)]
    private static partial int cuEventRecord(IntPtr evt, IntPtr stream);

    [LibraryImport(Library)]
    private static partial int cuEventSynchronize(IntPtr evt);

    [LibraryImport(Library)]
    private static partial int cuEventElapsedTime(out float milliseconds, IntPtr start, IntPtr end);

    [LibraryImport(Library)]
    private static partial int cuEventDestroy_v2(IntPtr evt);
}
