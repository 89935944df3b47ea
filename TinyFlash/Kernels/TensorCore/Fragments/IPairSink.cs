namespace TinyFlash.Kernels.TensorCore.Fragments;

/// <summary>Where an accumulator's rows go, two adjacent columns at a time (the pair a lane holds in a C fragment).</summary>
internal interface IPairSink
{
    /// <summary>Writes elements <paramref name="index"/> (even) and <paramref name="index"/> + 1.</summary>
    void Write(int index, float first, float second);
}
