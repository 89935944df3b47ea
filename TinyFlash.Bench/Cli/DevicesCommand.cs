using System.CommandLine;

namespace TinyFlash.Bench.Cli;

/// <summary><c>devices</c>: every accelerator ILGPU finds, with the limits the tile planner uses.</summary>
internal static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices", "List every accelerator with its warp size, group limit, shared memory and multiprocessors.");
        command.SetAction(_ =>
        {
            var devices = FlashEngine.ListDevices();
            Console.WriteLine($"{"backend",-8} {"gpu",-4} {"warp",6} {"group",6} {"shared/group",13} {"SMs",5} {"memory",12}  name");
            foreach (var d in devices)
                Console.WriteLine($"{d.Backend,-8} {(d.IsGpu ? "yes" : "no"),-4} {d.WarpSize,6} {d.MaxGroupSize,6} " +
                                  $"{(d.SharedMemoryPerGroup >= int.MaxValue ? "unlimited" : $"{d.SharedMemoryPerGroup / 1024} KiB"),13} {d.Multiprocessors,5} " +
                                  $"{(d.MemoryBytes == long.MaxValue ? "host" : $"{d.MemoryBytes / 1073741824.0:F1} GiB"),12}  {d.Name}");
            return 0;
        });
        return command;
    }
}
