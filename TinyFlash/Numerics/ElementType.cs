namespace TinyFlash;

/// <summary>Storage type of attention tensors. Arithmetic and softmax statistics are fp32 for all three.</summary>
public enum ElementType
{
    /// <summary>IEEE binary32 (<see cref="float"/>).</summary>
    Float32,

    /// <summary>IEEE binary16 (<see cref="System.Half"/>).</summary>
    Float16,

    /// <summary>bfloat16 (<see cref="TinyFlash.BFloat16"/>).</summary>
    BFloat16,
}
