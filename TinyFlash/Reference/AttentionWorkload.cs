using ILGPU;
using ILGPU.Runtime;
using TinyFlash.Tiling;
using Half = System.Half;

namespace TinyFlash.Reference;

/// <summary>
/// One attention problem resident on a device: random q, k, v (normal, rounded to the storage type) uploaded once,
/// an output and a log-sum-exp buffer (both poisoned with NaN, so an element the kernel never writes shows), and the
/// host copies of the inputs that the reference needs; for the backward pass, a random output gradient dO and
/// gradient buffers (also poisoned), allocated on first use. Shared by the verifier, the tests and the benchmarks.
/// </summary>
internal abstract class AttentionWorkload : IDisposable
{
    protected AttentionWorkload(AttentionShape shape, AttentionOptions options, ElementType type, float[] q, float[] k, float[] v)
    {
        Shape = shape;
        Options = options;
        Type = type;
        Query = q;
        Key = k;
        Value = v;
    }

    public AttentionShape Shape { get; }
    public AttentionOptions Options { get; }
    public ElementType Type { get; }
    public float[] Query { get; }
    public float[] Key { get; }
    public float[] Value { get; }

    /// <summary>The output gradient dO the backward pass is given (normal, rounded to the storage type).</summary>
    public float[] GradOutput => gradOutput ??= RandomTensors.Normal(Shape.QueryElements, seed + 3, NaiveAttention.RoundingOf(Type));

    private float[]? gradOutput;
    private int seed;

    /// <summary>Launches the backward pass of the last <see cref="Run"/> (whose output and log-sum-exp it reads).</summary>
    public abstract void RunBackward();

    /// <summary>Copies dq, dk and dv back, widened to float.</summary>
    public abstract (float[] GradQuery, float[] GradKey, float[] GradValue) DownloadGradients();

    /// <summary>Bytes of device memory the workload's tensors take.</summary>
    public abstract long DeviceBytes { get; }

    /// <summary>Launches one attention call (asynchronously on GPUs), with the planner's tile or a forced one.</summary>
    public abstract void Run(ExecutionPlan? plan = null);

    /// <summary>Copies the output back, widened to float.</summary>
    public abstract float[] DownloadOutput();

    /// <summary>Copies the log-sum-exp back.</summary>
    public abstract float[] DownloadLogSumExp();

    public abstract void Dispose();

    /// <summary>Creates the workload with inputs drawn from <paramref name="seed"/>.</summary>
    public static AttentionWorkload Create(FlashEngine engine, AttentionShape shape, AttentionOptions options,
        ElementType type, int seed = 1)
    {
        var round = NaiveAttention.RoundingOf(type);
        float[] q = RandomTensors.Normal(shape.QueryElements, seed, round);
        float[] k = RandomTensors.Normal(shape.KeyValueElements, seed + 1, round);
        float[] v = RandomTensors.Normal(shape.KeyValueElements, seed + 2, round);
        AttentionWorkload workload = type switch
        {
            ElementType.Float32 => new Typed<float>(engine, shape, options, type, q, k, v, x => x, x => x),
            ElementType.Float16 => new Typed<Half>(engine, shape, options, type, q, k, v, x => (Half)x, x => (float)x),
            _ => new Typed<BFloat16>(engine, shape, options, type, q, k, v, x => (BFloat16)x, x => (float)x),
        };
        workload.seed = seed;
        return workload;
    }

    private sealed class Typed<T> : AttentionWorkload where T : unmanaged
    {
        private readonly FlashEngine engine;
        private readonly Func<T, float> widen;
        private readonly Func<float, T> narrow;
        private MemoryBuffer1D<T, Stride1D.Dense>? gradOutputBuffer, gradQuery, gradKey, gradValue;
        private readonly MemoryBuffer1D<T, Stride1D.Dense> q, k, v, output;
        private readonly MemoryBuffer1D<float, Stride1D.Dense> logSumExp;

        public Typed(FlashEngine engine, AttentionShape shape, AttentionOptions options, ElementType type,
            float[] hostQ, float[] hostK, float[] hostV, Func<float, T> narrow, Func<T, float> widen)
            : base(shape, options, type, hostQ, hostK, hostV)
        {
            this.engine = engine;
            this.widen = widen;
            this.narrow = narrow;
            var accelerator = engine.Accelerator;
            q = accelerator.Allocate1D(Array.ConvertAll(hostQ, x => narrow(x)));
            k = accelerator.Allocate1D(Array.ConvertAll(hostK, x => narrow(x)));
            v = accelerator.Allocate1D(Array.ConvertAll(hostV, x => narrow(x)));
            output = accelerator.Allocate1D<T>(shape.QueryElements);
            logSumExp = accelerator.Allocate1D<float>(shape.LogSumExpElements);
            output.View.CopyFromCPU(Enumerable.Repeat(narrow(float.NaN), (int)shape.QueryElements).ToArray());
            logSumExp.View.CopyFromCPU(Enumerable.Repeat(float.NaN, (int)shape.LogSumExpElements).ToArray());
        }

        public override long DeviceBytes =>
            q.LengthInBytes + k.LengthInBytes + v.LengthInBytes + output.LengthInBytes + logSumExp.LengthInBytes +
            (gradOutputBuffer is null ? 0 : gradOutputBuffer.LengthInBytes + 2 * k.LengthInBytes + q.LengthInBytes + v.LengthInBytes);

        public override void RunBackward()
        {
            if (gradOutputBuffer is null)
            {
                var accelerator = engine.Accelerator;
                gradOutputBuffer = accelerator.Allocate1D(Array.ConvertAll(GradOutput, x => narrow(x)));
                gradQuery = Poisoned(accelerator, Shape.QueryElements);
                gradKey = Poisoned(accelerator, Shape.KeyValueElements);
                gradValue = Poisoned(accelerator, Shape.KeyValueElements);
            }
            engine.AttentionBackward<T>(q.View, k.View, v.View, output.View, gradOutputBuffer.View, logSumExp.View,
                gradQuery!.View, gradKey!.View, gradValue!.View, Shape, Options);
        }

        public override (float[] GradQuery, float[] GradKey, float[] GradValue) DownloadGradients() => (
            Array.ConvertAll(gradQuery!.GetAsArray1D(), x => widen(x)),
            Array.ConvertAll(gradKey!.GetAsArray1D(), x => widen(x)),
            Array.ConvertAll(gradValue!.GetAsArray1D(), x => widen(x)));

        private MemoryBuffer1D<T, Stride1D.Dense> Poisoned(Accelerator accelerator, long length) =>
            accelerator.Allocate1D(Enumerable.Repeat(narrow(float.NaN), (int)length).ToArray());

        public override void Run(ExecutionPlan? plan = null)
        {
            if (plan is null)
                engine.Attention<T>(q.View, k.View, v.View, output.View, Shape, Options, logSumExp.View);
            else
                engine.AttentionWithPlan<T>(q.View, k.View, v.View, output.View, Shape, Options, logSumExp.View, plan);
        }

        public override float[] DownloadOutput() => Array.ConvertAll(output.GetAsArray1D(), x => widen(x));

        public override float[] DownloadLogSumExp() => logSumExp.GetAsArray1D();

        public override void Dispose()
        {
            q.Dispose();
            k.Dispose();
            v.Dispose();
            output.Dispose();
            logSumExp.Dispose();
            gradOutputBuffer?.Dispose();
            gradQuery?.Dispose();
            gradKey?.Dispose();
            gradValue?.Dispose();
        }
    }
}
