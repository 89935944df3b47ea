namespace TinyFlash;

/// <summary>Which kind of ILGPU accelerator a <see cref="FlashEngine"/> runs on.</summary>
public enum BackendKind
{
    /// <summary>The best accelerator present: CUDA, then an OpenCL GPU, then any OpenCL device, then the CPU.</summary>
    Auto,

    /// <summary>An NVIDIA GPU through CUDA (PTX).</summary>
    Cuda,

    /// <summary>An OpenCL 2.0+ device with generic address space (AMD and Intel GPUs, some CPU runtimes).</summary>
    OpenCL,

    /// <summary>ILGPU's CPU accelerator: runs everywhere, simulates GPU threads, slow; for tests and fallback.</summary>
    Cpu,
}
