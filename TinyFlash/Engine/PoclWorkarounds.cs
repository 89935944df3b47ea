using System.Runtime.InteropServices;

namespace TinyFlash.Engine;

/// <summary>
/// PoCL (the portable OpenCL CPU runtime) compiles barriers inside loops with its "work-item loops" pass by default,
/// and that pass aborts the process on TinyFlash's kernels (PoCL 5.0: <c>Cannot add context restore for a PHI node at
/// the region entry</c>). Its continuation-based method (<c>cbs</c>) compiles them correctly. PoCL reads the choice
/// from the environment when OpenCL is first initialised, and .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/>
/// does not reach native code on Unix, so TinyFlash sets it through libc before it creates an ILGPU context,
/// unless the user has chosen a method already.
/// </summary>
internal static partial class PoclWorkarounds
{
    private const string Variable = "POCL_WORK_GROUP_METHOD";

    /// <summary>Selects PoCL's continuation-based barriers unless <c>POCL_WORK_GROUP_METHOD</c> is set.</summary>
    public static void PreferContinuationBasedBarriers()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() || Environment.GetEnvironmentVariable(Variable) is not null)
            return;
        _ = setenv(Variable, "cbs", overwrite: 0);
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
