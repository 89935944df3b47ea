using System.Diagnostics;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime.OpenCL;
using TinyFlash.Attention;
using TinyFlash.Tiling;

namespace TinyFlash.Tests.Support;

/// <summary>
/// The OpenCL C that ILGPU generates for a kernel, produced without an OpenCL device, and a syntax check of it with
/// clang (OpenCL C 2.0, the version ILGPU requires of a device).
/// </summary>
internal static class OpenClSource
{
    /// <summary>The forward kernel's OpenCL C for a vendor-neutral device (as PoCL reports itself).</summary>
    public static string Forward(ElementType type, TilePlan plan)
    {
        var (element, codec) = ForwardAttention.StorageOf(type, ILGPU.Runtime.AcceleratorType.OpenCL);
        return Compile(ForwardAttention.EntryPoint(element, codec, plan, staticShared: true));
    }

    /// <summary>A backward tile kernel's OpenCL C (<paramref name="kernel"/>: the open generic type), with score modifiers and dropout.</summary>
    public static string Backward(Type kernel, ElementType type, TilePlan plan)
    {
        var (element, codec) = ForwardAttention.StorageOf(type, ILGPU.Runtime.AcceleratorType.OpenCL);
        return Compile(BackwardAttention.TileEntryPoint(kernel, element, codec, plan, staticShared: true, modified: true));
    }

    private static string Compile(System.Reflection.MethodInfo method)
    {
        using var context = Context.Create(builder => builder.EnableAlgorithms().Optimize(OptimizationLevel.O2).Math(MathMode.Fast));
        // The capability context's constructor takes one flag per OpenCL extension; claim none but 64-bit support.
        var constructor = typeof(CLCapabilityContext).GetConstructors()
            .Single(c => c.GetParameters().Length > 0 && c.GetParameters().All(p => p.ParameterType == typeof(bool)));
        var capabilities = (CLCapabilityContext)constructor.Invoke(
            constructor.GetParameters().Select(p => (object)p.Name!.Contains("64", StringComparison.Ordinal)).ToArray());
        using var backend = new CLBackend(context, capabilities, CLDeviceVendor.Other, CLCVersion.CL20);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(method);
        return ((CLCompiledKernel)backend.Compile(entry, default)).Source;
    }

    /// <summary>A clang that compiles OpenCL C, or null.</summary>
    public static string? Clang { get; } = new[] { "clang", "clang-14", "clang-15", "clang-16" }.FirstOrDefault(Runs);

    /// <summary>clang's diagnostics for <paramref name="source"/> (empty when it compiles).</summary>
    public static string Diagnostics(string source)
    {
        string path = Path.Combine(Path.GetTempPath(), $"tinyflash-{Guid.NewGuid():N}.cl");
        File.WriteAllText(path, source);
        try
        {
            using var process = Process.Start(new ProcessStartInfo(Clang!,
                ["-x", "cl", "-cl-std=CL2.0", "-fsyntax-only", "-Xclang", "-finclude-default-header",
                 "-Werror=division-by-zero", path])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            string errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? "" : errors;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static bool Runs(string program)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, "--version") { RedirectStandardOutput = true })!;
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
