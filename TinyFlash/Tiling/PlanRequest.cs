namespace TinyFlash.Tiling;

/// <summary>
/// Everything a forward plan depends on: the shape the kernels are launched on (with decode's query heads packed as
/// rows where that applies), the storage type, the mask kind, whether sequences have their own key lengths, whether
/// the tensor-core kernel may run (CUDA, fp16/bf16, aligned tensors), and whether scores are modified (the kernel
/// variant, whose register use decides the largest group it can run). The key of the engine's plan cache; the tuning
/// cache keys by a coarser bucket of it (<see cref="TuningKey"/>).
/// </summary>
internal readonly record struct PlanRequest(AttentionShape Shape, ElementType Type, MaskKind Mask, bool VariableLengths, bool TensorCores,
    bool Modified = false);
