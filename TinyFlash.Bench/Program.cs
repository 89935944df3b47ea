using System.CommandLine;
using TinyFlash.Bench.Cli;

var root = new RootCommand("TinyFlash: fused attention for .NET on CUDA, OpenCL and the CPU. Checks, measures and compares it.")
{
    RunCommand.Create(),
    DevicesCommand.Create(),
    VerifyCommand.Create(),
    AccuracyCommand.Create(),
    PtxCommand.Create(),
    BenchCommand.Create(),
    SweepCommand.Create(),
    TuneCommand.Create(),
    DecodeCommand.Create(),
    JitCommand.Create(),
    SparseCommand.Create(),
    PostprocessCommand.Create(),
    TrainingCommand.Create(),
    ReportCommand.Create(),
};
return root.Parse(args).Invoke();
