using System.Text;
using System.Text.RegularExpressions;

namespace TinyFlash.Engine;

/// <summary>
/// Gives each chain of warpgroup products (<c>wgmma.mma_async</c>) one set of accumulator registers in ILGPU's PTX.
/// ILGPU writes every value to a register of its own and joins them by copies: into and out of each inline-asm
/// operand, and at the ends of loops and branches. A copy reads the accumulators of a product still in flight, so
/// ptxas serialises every product of the kernel (C7514, "non wgmma instructions reading accumulator registers ...
/// between start and end of the pipeline stage"). This pass merges the registers that copies join into one, so that
/// each product reads and writes the same registers as the one before and the copies vanish.
/// </summary>
/// <remarks>
/// Merging is register coalescing: a set of registers joined by copies may share one name when no two of them
/// interfere, that is, when none is live where another is written other than by a copy from it (Chaitin's rule).
/// The pass computes liveness over the function's control-flow graph (reachable blocks only) for the f32 registers
/// and promoted operand slots of every set that holds a product's accumulator, checks the rule, and renames the sets
/// that pass; a set that fails is left as it was (correct, and serialised by ptxas). It reads PTX conservatively: an
/// instruction it does not know writes and reads every register it names, a predicated write also reads.
/// </remarks>
internal static partial class WarpGroupAccumulators
{
    /// <summary><paramref name="function"/> (one PTX function's text) with its product chains coalesced; unchanged if it has no product.</summary>
    public static string Coalesce(string function)
    {
        if (!function.Contains("wgmma.mma_async", StringComparison.Ordinal))
            return function;
        var lines = function.Split('\n');
        var statements = lines.Select(Parse).ToArray();

        // Copy-joined sets of the registers that hold a product's accumulators.
        var sets = new UnionFind();
        foreach (var s in statements)
            if (s.Copy is (string to, string from))
                sets.Union(to, from);
        var accumulatorSets = statements.SelectMany(s => s.Accumulators).Select(sets.Find).ToHashSet();
        var members = new Dictionary<string, string>();
        foreach (var s in statements)
            foreach (string register in s.Uses.Concat(s.Defs))
                if (accumulatorSets.Contains(sets.Find(register)))
                    members[register] = sets.Find(register);
        if (members.Count == 0)
            return function;

        var clashing = Interferences(lines, statements, members);
        var names = new Dictionary<string, string>();
        foreach (var group in members.GroupBy(m => m.Value).Where(g => !clashing.Contains(g.Key)))
        {
            // The name a product already uses (an %f register, declared), so that no declaration is needed.
            string name = statements.SelectMany(s => s.Accumulators).First(a => members.TryGetValue(a, out var set) && set == group.Key);
            foreach (var (register, _) in group)
                names[register] = name;
        }
        var result = new StringBuilder(function.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = statements[i].Registers.Count == 0 ? lines[i]
                : Register().Replace(lines[i], m => names.TryGetValue(m.Value, out var name) ? name : m.Value);
            if (statements[i].Copy is (string to, string from) && names.TryGetValue(to, out var a) && names.TryGetValue(from, out var b) && a == b
                || statements[i].Dead && names.ContainsKey(statements[i].Defs[0]))
                continue;
            result.Append(line).Append('\n');
        }
        result.Length--;
        return result.ToString();
    }

    /// <summary>
    /// The sets (by representative) in which some member is live where another is written, except by a copy from it,
    /// after the moves into members that nothing reads are marked <see cref="Statement.Dead"/> (their writes would
    /// otherwise clobber a merged register).
    /// </summary>
    private static HashSet<string> Interferences(string[] lines, Statement[] statements, Dictionary<string, string> members)
    {
        var blocks = Blocks(lines, statements);
        HashSet<string>[] liveIn;
        bool removed;
        do
        {
            liveIn = Liveness(blocks, statements, members);
            removed = false;
            for (int b = 0; b < blocks.Count; b++)
            {
                if (!blocks[b].Reachable)
                    continue;
                var live = LiveOut(blocks, liveIn, b);
                for (int i = blocks[b].End - 1; i >= blocks[b].Start; i--)
                {
                    var s = statements[i];
                    if (s is { Move: true, Dead: false } && members.ContainsKey(s.Defs[0]) && !live.Contains(s.Defs[0]))
                    {
                        s.Dead = removed = true;
                        continue;
                    }
                    Step(s, live, members, clashes: null);
                }
            }
        }
        while (removed);
        var clashing = new HashSet<string>();
        for (int b = 0; b < blocks.Count; b++)
        {
            if (!blocks[b].Reachable)
                continue;
            var live = LiveOut(blocks, liveIn, b);
            for (int i = blocks[b].End - 1; i >= blocks[b].Start; i--)
                Step(statements[i], live, members, clashing);
        }
        return clashing;
    }

    /// <summary>The members live into each block: backward dataflow to a fixed point over the reachable blocks.</summary>
    private static HashSet<string>[] Liveness(List<Block> blocks, Statement[] statements, Dictionary<string, string> members)
    {
        var liveIn = blocks.Select(_ => new HashSet<string>()).ToArray();
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int b = blocks.Count - 1; b >= 0; b--)
            {
                if (!blocks[b].Reachable)
                    continue;
                var live = LiveOut(blocks, liveIn, b);
                for (int i = blocks[b].End - 1; i >= blocks[b].Start; i--)
                    Step(statements[i], live, members, clashes: null);
                if (!live.SetEquals(liveIn[b]))
                {
                    liveIn[b] = live;
                    changed = true;
                }
            }
        }
        return liveIn;
    }

    private static HashSet<string> LiveOut(List<Block> blocks, HashSet<string>[] liveIn, int b)
    {
        var live = new HashSet<string>();
        foreach (int successor in blocks[b].Successors)
            live.UnionWith(liveIn[successor]);
        return live;
    }

    /// <summary>Liveness across one statement, backwards; records in <paramref name="clashes"/> the sets whose members interfere there.</summary>
    private static void Step(Statement s, HashSet<string> live, Dictionary<string, string> members, HashSet<string>? clashes)
    {
        if (s.Dead)
            return;
        foreach (string def in s.Defs)
        {
            if (!members.TryGetValue(def, out var set))
                continue;
            if (clashes is not null)
                foreach (string other in live)
                    if (other != def && members[other] == set && s.Copy?.From != other)
                        clashes.Add(set);
        }
        foreach (string def in s.Defs)
            live.Remove(def);
        foreach (string use in s.Uses)
            if (members.ContainsKey(use))
                live.Add(use);
    }

    /// <summary>Basic blocks of the function: a label starts one, a branch or return ends one; reachability from the entry.</summary>
    private static List<Block> Blocks(string[] lines, Statement[] statements)
    {
        var blocks = new List<Block>();
        var labels = new Dictionary<string, int>();
        int start = 0;
        for (int i = 0; i <= lines.Length; i++)
        {
            bool label = i < lines.Length && Label().Match(lines[i]) is { Success: true };
            if (i == lines.Length || label)
            {
                if (i > start || label)
                    blocks.Add(new Block(start, i));
                if (label)
                    labels[Label().Match(lines[i]).Groups["name"].Value] = blocks.Count;
                start = label ? i + 1 : i;
                if (i == lines.Length)
                    break;
            }
            else if (statements[i].EndsBlock)
            {
                blocks.Add(new Block(start, i + 1));
                start = i + 1;
            }
        }
        for (int b = 0; b < blocks.Count; b++)
        {
            var last = blocks[b].End > blocks[b].Start ? statements[blocks[b].End - 1] : null;
            if (last?.Target is string target && labels.TryGetValue(target, out int to))
                blocks[b].Successors.Add(to);
            if (last is not { Unconditional: true } && b + 1 < blocks.Count)
                blocks[b].Successors.Add(b + 1);
        }
        var work = new Stack<int>([0]);
        while (work.Count > 0)
        {
            int b = work.Pop();
            if (blocks[b].Reachable)
                continue;
            blocks[b].Reachable = true;
            foreach (int s in blocks[b].Successors)
                work.Push(s);
        }
        return blocks;
    }

    /// <summary>The registers (f32 values and promoted operand slots) a line reads and writes, and what it does to control flow.</summary>
    private static Statement Parse(string line)
    {
        var statement = new Statement();
        string text = line.Trim();
        if (Label().IsMatch(line) || text.Length == 0 || text.StartsWith("//", StringComparison.Ordinal))
            return statement;
        if (text.StartsWith('{') && text.EndsWith('}'))
            text = text[1..^1];
        foreach (string part in text.Split(';'))
        {
            string s = part.Trim();
            if (s.Length == 0 || s.StartsWith('.'))
                continue;
            bool predicated = s.StartsWith('@');
            if (predicated)
                s = s[(s.IndexOfAny([' ', '\t']) + 1)..].TrimStart();
            int space = s.IndexOfAny([' ', '\t']);
            string opcode = space < 0 ? s : s[..space];
            string operands = space < 0 ? "" : s[space..];
            if (opcode.StartsWith("bra", StringComparison.Ordinal))
            {
                statement.EndsBlock = true;
                statement.Target = operands.Trim();
                statement.Unconditional = !predicated;
                continue;
            }
            if (opcode is "ret" or "exit")
            {
                statement.EndsBlock = true;
                statement.Unconditional = true;
                continue;
            }
            var registers = Register().Matches(operands).Select(m => m.Value).ToList();
            statement.Registers.AddRange(registers);
            if (registers.Count == 0)
                continue;
            if (opcode.StartsWith("wgmma.mma_async", StringComparison.Ordinal))
            {
                // The accumulators (the first braces) are read and written; descriptors and A registers are read.
                var accumulators = Register().Matches(operands[..(operands.IndexOf('}') + 1)]).Select(m => m.Value).ToList();
                statement.Accumulators.AddRange(accumulators);
                statement.Defs.AddRange(accumulators);
                statement.Uses.AddRange(registers);
            }
            else if (ReadsOnly(opcode))
                statement.Uses.AddRange(registers);
            else if (KnownDestinationFirst(opcode))
            {
                string destination = operands.TrimStart().StartsWith('{')
                    ? operands[..(operands.IndexOf('}') + 1)]
                    : operands.Split(',')[0];
                var defs = Register().Matches(destination).Select(m => m.Value).ToList();
                statement.Defs.AddRange(defs);
                statement.Uses.AddRange(predicated ? registers : registers.Except(defs));
                statement.Move = !predicated && opcode is "mov.f32" or "mov.b32" && defs.Count == 1 && operands.Split(',').Length == 2;
                if (statement.Move && registers.Count == 2)
                    statement.Copy = (registers[0], registers[1]);
            }
            else
            {
                statement.Defs.AddRange(registers);
                statement.Uses.AddRange(registers);
            }
        }
        return statement;
    }

    private static bool ReadsOnly(string opcode) =>
        opcode.StartsWith("st.", StringComparison.Ordinal) || opcode.StartsWith("red.", StringComparison.Ordinal)
        || opcode.StartsWith("setp.", StringComparison.Ordinal) || opcode.StartsWith("bar.", StringComparison.Ordinal)
        || opcode.StartsWith("cp.async", StringComparison.Ordinal) || opcode.StartsWith("call", StringComparison.Ordinal);

    /// <summary>Arithmetic, conversions, moves, loads and shuffles: the first operand (or brace group) is what they write.</summary>
    private static bool KnownDestinationFirst(string opcode) =>
        DestinationFirst().IsMatch(opcode);

    [GeneratedRegex(@"^(mov|add|sub|mul|fma|mad|div|rcp|sqrt|rsqrt|ex2|lg2|max|min|neg|abs|selp|cvt|ld|shfl|and|or|xor|not|shl|shr|copysign|testp)\.")]
    private static partial Regex DestinationFirst();

    [GeneratedRegex(@"%(?:f\d+|__local_depot\d+)\b")]
    private static partial Regex Register();

    [GeneratedRegex(@"^\s*(?<name>[A-Za-z_$][\w$]*):\s*$")]
    private static partial Regex Label();

    private sealed class Statement
    {
        public readonly List<string> Registers = [], Defs = [], Uses = [], Accumulators = [];
        public (string To, string From)? Copy;
        public bool EndsBlock, Unconditional;

        /// <summary>An unpredicated move (of a register or a constant) into one register: removable once that register is dead.</summary>
        public bool Move;

        /// <summary>A move whose result nothing reads (ILGPU zero-fills each operand slot before it stores the operand).</summary>
        public bool Dead;
        public string? Target;
    }

    private sealed class Block(int start, int end)
    {
        public int Start { get; } = start;
        public int End { get; } = end;
        public List<int> Successors { get; } = [];
        public bool Reachable { get; set; }
    }

    private sealed class UnionFind
    {
        private readonly Dictionary<string, string> parent = [];

        public string Find(string x)
        {
            if (!parent.TryGetValue(x, out var p))
                return x;
            string root = Find(p);
            parent[x] = root;
            return root;
        }

        public void Union(string a, string b)
        {
            string ra = Find(a), rb = Find(b);
            if (ra != rb)
                parent[ra] = rb;
        }
    }
}
