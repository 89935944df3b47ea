using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace TinyFlash.Engine;

/// <summary>
/// Moves the operands of inline PTX out of local memory. ILGPU 1.5.3 passes every <c>CudaAsm</c> operand through
/// a 4-byte local-memory slot of its own (<c>__local_depotK</c>: the value is stored, loaded into the asm's register,
/// and the result stored and loaded back). In a kernel with thousands of them (every <c>mma.sync</c> has ten)
/// <c>ptxas</c> keeps most slots in memory: the tensor-core kernel got a 3.8–8 KiB stack frame and ran at 5
/// TFLOP/s on the H100. Each slot's address is taken once and only ever loaded from and stored to, so it is
/// exactly a register: this pass declares one and turns every access into a <c>mov</c>. Slots used any other way
/// are left alone.
/// </summary>
internal static partial class InlinePtxOperands
{
    /// <summary>
    /// <paramref name="ptx"/> with every promotable local slot turned into a register, and the branches on
    /// <c>CudaAsm.IsSupported</c> resolved: ILGPU folds that predicate only after laying out the code, leaving
    /// <c>mov.pred %p, 0|1;</c> directly followed by <c>@%p bra</c> around every instruction and its (dead) twin.
    /// The branch becomes nothing or an unconditional one, so the hot loops are straight-line code for ptxas.
    /// </summary>
    public static string PromoteToRegisters(string ptx) => ResolveConstantBranches(PromoteSlots(ptx));

    /// <summary>
    /// <paramref name="ptx"/> as TinyFlash loads it: <see cref="PromoteToRegisters"/>, and the target raised to
    /// <c>sm_90a</c> where the inline PTX uses Hopper's warpgroup instructions (ILGPU writes <c>.target sm_80</c> whatever
    /// the device; <c>wgmma</c> exists only for the architecture-specific sm_90a target, which the H100's driver JIT
    /// accepts, <c>../shared/device/GPU.md</c>), their accumulator chains coalesced (<see cref="WarpGroupAccumulators"/>).
    /// </summary>
    public static string Rewrite(string ptx)
    {
        string promoted = PromoteToRegisters(ptx);
        if (!promoted.Contains("wgmma.", StringComparison.Ordinal))
            return promoted;
        string coalesced = string.Concat(FunctionStart().Split(promoted).Select(WarpGroupAccumulators.Coalesce));
        return Target().Replace(coalesced, ".target sm_90a", 1);
    }

    /// <summary>
    /// <paramref name="ptx"/> with <c>.maxnreg <paramref name="maxRegisters"/></c> on its kernel entry (ptxas then
    /// keeps to that many registers a thread, spilling beyond); unchanged for 0.
    /// </summary>
    public static string LimitRegisters(string ptx, int maxRegisters) =>
        maxRegisters <= 0 ? ptx : EntryParameters().Replace(ptx, m => $"{m.Value}\n.maxnreg {maxRegisters}", 1);

    [GeneratedRegex(@"\.entry\s+\w+\s*\([^)]*\)")]
    private static partial Regex EntryParameters();

    private static string ResolveConstantBranches(string ptx) =>
        ConstantBranch().Replace(ptx, m => m.Groups["value"].Value == "0"
            ? m.Groups["mov"].Value
            : $"{m.Groups["mov"].Value}\tbra.uni\t{m.Groups["target"].Value};");

    /// <summary>
    /// Slots are promoted function by function: each function has its own registers and slot names, and an address
    /// register that is a slot's in one function may be anything in another (the twins' functions have slots too).
    /// </summary>
    private static string PromoteSlots(string ptx) => string.Concat(FunctionStart().Split(ptx).Select(PromoteSlotsOfFunction));

    private static string PromoteSlotsOfFunction(string ptx)
    {
        var sizes = new Dictionary<string, int>();
        foreach (Match m in Declaration().Matches(ptx))
            if (int.Parse(m.Groups["size"].Value) is 4 or 8)
                sizes[m.Groups["slot"].Value] = int.Parse(m.Groups["size"].Value);
        var slotOf = new Dictionary<string, string>();
        foreach (Match m in AddressOf().Matches(ptx))
            if (sizes.ContainsKey(m.Groups["slot"].Value))
                slotOf[m.Groups["reg"].Value] = m.Groups["slot"].Value;

        if (slotOf.Count == 0)
            return ptx;
        var lines = ptx.Split('\n');
        // A slot qualifies only if its address register appears in nothing but its definition and plain loads/stores.
        var disqualified = new HashSet<string>();
        foreach (string line in lines)
        {
            if (AddressOf().IsMatch(line) || Access().IsMatch(line))
                continue;
            foreach (Match r in Register().Matches(line))
                if (slotOf.TryGetValue(r.Value, out var slot))
                    disqualified.Add(slot);
        }

        var result = new StringBuilder(ptx.Length);
        foreach (string line in lines)
        {
            string rewritten = line;
            if (Declaration().Match(line) is { Success: true } d && Promotable(d.Groups["slot"].Value))
                rewritten = $"\t.reg .b{8 * sizes[d.Groups["slot"].Value]} %{d.Groups["slot"].Value};";
            else if (AddressOf().Match(line) is { Success: true } a && Promotable(a.Groups["slot"].Value))
                continue;
            else if (Access().Match(line) is { Success: true } x && slotOf.TryGetValue(x.Groups["reg"].Value, out var slot) && Promotable(slot))
                rewritten = x.Groups["op"].Value == "st"
                    ? $"\tmov.{x.Groups["type"].Value} %{slot}, {x.Groups["value"].Value};"
                    : $"\tmov.{x.Groups["type"].Value} {x.Groups["value"].Value}, %{slot};";
            result.Append(rewritten).Append('\n');
        }
        result.Length--; // the split's last element had no newline
        return result.ToString();

        bool Promotable(string slot) => sizes.ContainsKey(slot) && !disqualified.Contains(slot) && slotOf.ContainsValue(slot);
    }

    /// <summary>
    /// Compiles <paramref name="entryPoint"/> for a CUDA accelerator with its PTX rewritten by
    /// <see cref="Rewrite"/> and limited to <paramref name="maxRegisters"/> registers a thread (0: no limit,
    /// <see cref="LimitRegisters"/>). ILGPU keeps the accelerator's backend, the kernel's entry point and the
    /// compiled kernel's constructor internal, hence the reflection (the route <c>../shared/device/GPU.md</c> checked
    /// for patching PTX).
    /// </summary>
    public static CompiledKernel Compile(CudaAccelerator accelerator, MethodInfo entryPoint, int maxRegisters = 0)
    {
        const BindingFlags any = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var backend = (Backend)typeof(Accelerator).GetProperty("Backend", any)!.GetValue(accelerator)!;
        var kernel = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(entryPoint), default);
        string ptx = LimitRegisters(Rewrite(kernel.PTXAssembly), maxRegisters);
        if (ReferenceEquals(ptx, kernel.PTXAssembly))
            return kernel;
        object kernelEntryPoint = typeof(CompiledKernel).GetProperty("EntryPoint", any)!.GetValue(kernel)!;
        var constructor = typeof(PTXCompiledKernel).GetConstructors(any).Single(c => c.GetParameters().Length == 4);
        return (CompiledKernel)constructor.Invoke([kernel.Context, kernelEntryPoint, kernel.Info, ptx]);
    }

    [GeneratedRegex(@"^\s*\.local \.align \d+ \.b8 (?<slot>__local_depot\d+)\[(?<size>\d+)\];\s*$", RegexOptions.Multiline)]
    private static partial Regex Declaration();

    [GeneratedRegex(@"^\s*mov\.b64\s+(?<reg>%rd\d+), (?<slot>__local_depot\d+);\s*$", RegexOptions.Multiline)]
    private static partial Regex AddressOf();

    [GeneratedRegex(@"^\s*(?:(?<op>st)\.local\.(?<type>[a-z]+\d+)\s+\[(?<reg>%rd\d+)\],\s*(?<value>[^;]+);|(?<op>ld)\.local\.(?<type>[a-z]+\d+)\s+(?<value>[^,]+),\s*\[(?<reg>%rd\d+)\];)\s*$")]
    private static partial Regex Access();

    [GeneratedRegex(@"(?<mov>\tmov\.pred\t(?<reg>%p\d+), (?<value>[01]);\n)\t@\k<reg> bra(?:\.uni)?\t(?<target>\w+);")]
    private static partial Regex ConstantBranch();

    [GeneratedRegex(@"%rd\d+\b")]
    private static partial Regex Register();

    [GeneratedRegex(@"^(?=(?:\.visible |\.weak )?\.(?:func|entry)\b)", RegexOptions.Multiline)]
    private static partial Regex FunctionStart();

    [GeneratedRegex(@"^\.target sm_\d+a?$", RegexOptions.Multiline)]
    private static partial Regex Target();
}
