using System.Numerics;

namespace TinyFlash.Tiling;

/// <summary>
/// What a tuned configuration is recorded under: the device and its driver, the kernels' version, and a bucket of
/// calls that share a best configuration (storage type, head dim, mask kind, and the launch shape's query length,
/// key length and batch·heads rounded up to powers of two; whether sequences have their own key lengths and whether
/// the tensor-core kernel may run).
/// </summary>
internal sealed record TuningKey(string Device, string Driver, string KernelVersion, ElementType Type, int HeadDim, MaskKind Mask, string Bucket)
{
    /// <summary>The key of <paramref name="request"/> on a device.</summary>
    public static TuningKey For(PlanRequest request, string device, string driver, string kernelVersion)
    {
        var s = request.Shape;
        string bucket = $"q{Log2Ceiling(s.QueryLength)}-k{Log2Ceiling(s.KeyLength)}-bh{Log2Ceiling((long)s.Batch * s.QueryHeads)}"
                        + (request.VariableLengths ? "-lengths" : "") + (request.TensorCores ? "" : "-portable");
        return new TuningKey(device, driver, kernelVersion, request.Type, s.HeadDim, request.Mask, bucket);
    }

    /// <summary>One line for messages and <see cref="TuningResult.CacheKey"/>.</summary>
    public override string ToString() => $"{Device} | {Driver} | kernels {KernelVersion} | {Type} d{HeadDim} {Mask} {Bucket}";

    private static int Log2Ceiling(long value) => value <= 1 ? 0 : 64 - BitOperations.LeadingZeroCount((ulong)(value - 1));
}
