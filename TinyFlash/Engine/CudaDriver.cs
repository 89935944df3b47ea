using System.Reflection;
using System.Runtime.InteropServices;

namespace TinyFlash.Engine;

/// <summary>
/// The CUDA driver calls ILGPU 1.5.3 does not make: reading the opt-in shared-memory limit of a device, raising a
/// kernel's dynamic shared-memory limit above the 48 KiB default (FlashAttention-sized tiles need it), and asking how
/// many groups of a kernel a multiprocessor holds at once (kernels that loop over blocks of rows launch that many).
/// </summary>
internal static partial class CudaDriver
{
    private const string Library = "cuda";

    /// <summary><c>CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN</c>.</summary>
    private const int MaxSharedMemoryPerBlockOptIn = 97;

    /// <summary><c>CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR</c>.</summary>
    private const int MaxSharedMemoryPerMultiprocessor = 81;

    /// <summary><c>CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR</c>.</summary>
    private const int MaxRegistersPerMultiprocessor = 82;

    /// <summary><c>CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK</c>.</summary>
    private const int MaxThreadsPerBlock = 0;

    /// <summary><c>CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES</c>: the kernel's static shared memory.</summary>
    private const int StaticSharedSizeBytes = 1;

    /// <summary><c>CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES</c>.</summary>
    private const int MaxDynamicSharedSizeBytes = 8;

    static CudaDriver() =>
        NativeLibrary.SetDllImportResolver(typeof(CudaDriver).Assembly, (name, assembly, path) =>
            name == Library && OperatingSystem.IsWindows()
                ? NativeLibrary.Load("nvcuda", assembly, path)
                : IntPtr.Zero);

    /// <summary>Shared memory one block of device <paramref name="deviceId"/> may use after opting in, in bytes.</summary>
    public static int OptInSharedMemoryPerBlock(int deviceId) => DeviceAttribute(deviceId, MaxSharedMemoryPerBlockOptIn);

    /// <summary>Shared memory all resident blocks of a multiprocessor share, in bytes.</summary>
    public static int SharedMemoryPerMultiprocessor(int deviceId) => DeviceAttribute(deviceId, MaxSharedMemoryPerMultiprocessor);

    /// <summary>32-bit registers all resident threads of a multiprocessor share.</summary>
    public static int RegistersPerMultiprocessor(int deviceId) => DeviceAttribute(deviceId, MaxRegistersPerMultiprocessor);

    /// <summary>Most threads a block of <paramref name="function"/> may have, given the registers it was compiled to.</summary>
    public static int MaxThreadsPerGroup(IntPtr function)
    {
        Check(cuFuncGetAttribute(out int threads, MaxThreadsPerBlock, function), "cuFuncGetAttribute");
        return threads;
    }

    /// <summary>
    /// Groups of <paramref name="threads"/> threads and <paramref name="dynamicSharedBytes"/> of dynamic shared memory
    /// that one multiprocessor runs at once, given <paramref name="function"/>'s registers and static shared memory.
    /// </summary>
    public static int ResidentGroups(IntPtr function, int threads, int dynamicSharedBytes)
    {
        Check(cuOccupancyMaxActiveBlocksPerMultiprocessor(out int groups, function, threads, (nuint)dynamicSharedBytes), "cuOccupancyMaxActiveBlocksPerMultiprocessor");
        return groups;
    }

    private static int DeviceAttribute(int deviceId, int attribute)
    {
        Check(cuDeviceGet(out int device, deviceId), "cuDeviceGet");
        Check(cuDeviceGetAttribute(out int value, attribute, device), "cuDeviceGetAttribute");
        return value;
    }

    /// <summary>
    /// Lets <paramref name="function"/> use up to <paramref name="bytes"/> of shared memory a block in all: its static
    /// shared memory plus as much dynamic shared memory as is left (the driver refuses a dynamic limit that would
    /// take static + dynamic past the device's opt-in limit: the fused norm kernels have static shared memory).
    /// </summary>
    public static void AllowSharedMemory(IntPtr function, int bytes)
    {
        Check(cuFuncGetAttribute(out int staticBytes, StaticSharedSizeBytes, function), "cuFuncGetAttribute");
        Check(cuFuncSetAttribute(function, MaxDynamicSharedSizeBytes, bytes - staticBytes), "cuFuncSetAttribute");
    }

    private static void Check(int status, string call)
    {
        if (status != 0)
            throw new TinyFlashException($"CUDA driver call {call} failed with error {status}.");
    }

    [LibraryImport(Library)]
    private static partial int cuDeviceGet(out int device, int ordinal);

    [LibraryImport(Library)]
    private static partial int cuDeviceGetAttribute(out int value, int attribute, int device);

    [LibraryImport(Library)]
    private static partial int cuFuncSetAttribute(IntPtr function, int attribute, int value);

    [LibraryImport(Library)]
    private static partial int cuFuncGetAttribute(out int value, int attribute, IntPtr function);

    [LibraryImport(Library)]
    private static partial int cuOccupancyMaxActiveBlocksPerMultiprocessor(out int groups, IntPtr function, int threads, nuint dynamicSharedBytes);
}
