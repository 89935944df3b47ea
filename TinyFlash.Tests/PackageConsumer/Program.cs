using TinyFlash;
using TinyFlash.Reference;

// What the README's example does, compiled against the package: causal attention on the CPU, checked.
using var engine = FlashEngine.Create(BackendKind.Cpu);
var shape = new AttentionShape(Batch: 1, QueryHeads: 4, KeyValueHeads: 2, QueryLength: 50, KeyLength: 70, HeadDim: 64);
var options = new AttentionOptions { Causal = true };
var random = new Random(1);
float[] Tensor(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
float[] q = Tensor(shape.QueryElements), k = Tensor(shape.KeyValueElements), v = Tensor(shape.KeyValueElements);

float[] output = engine.Attention(q, k, v, shape, options);
double[] reference = ReferenceAttention.Compute(q, k, v, shape, options);

double error = output.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
Console.WriteLine($"{engine.Backend} {engine.DeviceName}: max error {error:E2}");
return error < 1e-5 ? 0 : 1;
