namespace TinyFlash.Tiling;

/// <summary>
/// A forward-pass configuration: which kernel family runs and with which tile. The planner proposes them; the
/// sweep and the tile measurements force them.
/// </summary>
internal abstract record ForwardPlan
{
    /// <summary>Features per head.</summary>
    public abstract int HeadDim { get; }

    /// <summary>Query rows a group owns.</summary>
    public abstract int BlockM { get; }

    /// <summary>Keys a tile.</summary>
    public abstract int BlockN { get; }

    /// <summary>Threads a group.</summary>
    public abstract int Threads { get; }

    /// <summary>Shared memory a group, in bytes.</summary>
    public abstract long SharedBytes { get; }

    /// <summary>Registers a thread needs, estimated from <c>ptxas -v</c> on sm_90 (the planner's occupancy model).</summary>
    public abstract int EstimatedRegisters { get; }

    /// <summary>A short description for records and logs, e.g. <c>portable 128x16</c> or <c>tensor-core 4x2x64</c>.</summary>
    public abstract string Describe();

    /// <summary>Parses <see cref="Describe"/>'s text back into a plan for <paramref name="headDim"/>.</summary>
    /// <exception cref="FormatException">The text names no kernel family or its sizes do not parse.</exception>
    public static ForwardPlan ParseDescription(string text, int headDim)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.StartsWith("tensor-core ", StringComparison.Ordinal))
            return TensorCorePlan.Parse(text["tensor-core ".Length..], headDim);
        if (text.StartsWith(WarpGroupPlan.Prefix, StringComparison.Ordinal))
            return WarpGroupPlan.Parse(text[WarpGroupPlan.Prefix.Length..], headDim);
        if (text.StartsWith("portable ", StringComparison.Ordinal))
            return TilePlan.Parse(text["portable ".Length..], headDim);
        throw new FormatException($"'{text}' is not a tile plan ('tensor-core WxRxN', 'warp-group WxN' or 'portable MxT').");
    }

    /// <summary>
    /// A tensor-core tile as the command line writes it: <c>WARPSxROWTILESxBLOCKN[xSTAGES]</c> for the <c>mma.sync</c>
    /// kernel, <c>wgWARPGROUPSxBLOCKN[xSTAGES]</c> for the warpgroup kernel.
    /// </summary>
    /// <exception cref="FormatException">The text is neither.</exception>
    public static ForwardPlan ParseTensorCoreTile(string text, int headDim)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.StartsWith("wg", StringComparison.Ordinal)
            ? WarpGroupPlan.Parse(text[2..], headDim)
            : TensorCorePlan.Parse(text, headDim);
    }
}
