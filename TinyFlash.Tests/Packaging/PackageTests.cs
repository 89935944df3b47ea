using System.Diagnostics;
using System.IO.Compression;

namespace TinyFlash.Tests.Packaging;

/// <summary>
/// The library as a user gets it: <c>dotnet pack</c> produces a package with the assembly, its XML documentation and
/// the README, and a separate program restores it from a local feed, builds and runs.
/// </summary>
[Category("Package")]
public class PackageTests
{
    private static readonly string Repository = FindRepository();

    [Test]
    public void The_packed_package_builds_and_runs_in_a_consumer_program()
    {
        string work = Directory.CreateTempSubdirectory("tinyflash-package-").FullName;
        try
        {
            string version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
            string feed = Path.Combine(work, "feed");
            Run("dotnet", $"pack \"{Path.Combine(Repository, "TinyFlash")}\" -c Release -o \"{feed}\" -p:Version={version}", Repository);

            string package = Path.Combine(feed, $"TinyFlash.{version}.nupkg");
            using (var archive = ZipFile.OpenRead(package))
            {
                var entries = archive.Entries.Select(e => e.FullName).ToArray();
                Assert.That(entries, Does.Contain("lib/net10.0/TinyFlash.dll"));
                Assert.That(entries, Does.Contain("lib/net10.0/TinyFlash.xml"), "the XML documentation ships with the package");
                Assert.That(entries, Does.Contain("README.md"));
            }

            string consumer = Path.Combine(work, "consumer");
            Directory.CreateDirectory(consumer);
            foreach (string file in new[] { "PackageConsumer.csproj", "Program.cs" })
                File.Copy(Path.Combine(Repository, "TinyFlash.Tests", "PackageConsumer", file), Path.Combine(consumer, file));
            File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
                  </packageSources>
                </configuration>
                """);

            string output = Run("dotnet", $"run -c Release -p:TinyFlashVersion={version}", consumer);
            Assert.That(output, Does.Contain("Cpu CPUAccelerator: max error"));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Run(string program, string arguments, string directory)
    {
        var start = new ProcessStartInfo(program, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.That(process.ExitCode, Is.Zero, $"{program} {arguments} failed:\n{output}\n{error.Result}");
        return output;
    }

    private static string FindRepository()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "TinyFlash.sln")))
                return directory.FullName;
        throw new InvalidOperationException("The tests do not run inside the TinyFlash repository.");
    }
}
