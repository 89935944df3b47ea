namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>The A operand of a warp's rows for one 16-wide k step: one fragment per 16-row tile.</summary>
internal struct WarpOperand
{
    public Instructions.Fragment First, Second;
}
