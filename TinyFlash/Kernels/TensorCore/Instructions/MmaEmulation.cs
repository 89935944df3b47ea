using System.Runtime.CompilerServices;
using ILGPU;

namespace TinyFlash.Kernels.TensorCore.Instructions;

/// <summary>
/// The portable twin of <c>mma.sync</c> m16n8k16: each lane gathers, by warp shuffles, the A row pair and B column
/// pair its accumulators need from the lanes that hold them (fragment layouts in this folder's README), and adds the
/// products in fp32. Same result as the tensor core up to the order of the fp32 additions.
/// </summary>
internal static class MmaEmulation
{
    /// <summary>
    /// The four products a lane's accumulators receive (<see cref="Fragment"/> reused as four float bit patterns).
    /// Not inlined: on CUDA it sits in a branch that is removed, and keeping it out of line keeps the PTX small.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static Accumulators Product<TElement>(Fragment a, uint b0, uint b1)
        where TElement : struct, ITensorElement
    {
        float c0 = 0f, c1 = 0f, c2 = 0f, c3 = 0f;
        int lane = Warp.LaneIdx;
        int g = lane / 4, t = lane % 4;
        for (int half = 0; half < 2; half++)
        {
            for (int pair = 0; pair < 4; pair++)
            {
                // Register of k = 8·half + 2·pair (and +1): A's rows g and g + 8, B's columns 2t and 2t + 1.
                uint top = Warp.Shuffle(half == 0 ? a.R0 : a.R2, 4 * g + pair);
                uint bottom = Warp.Shuffle(half == 0 ? a.R1 : a.R3, 4 * g + pair);
                uint left = Warp.Shuffle(half == 0 ? b0 : b1, 8 * t + pair);
                uint right = Warp.Shuffle(half == 0 ? b0 : b1, 8 * t + 4 + pair);
                c0 += Dot<TElement>(top, left);
                c1 += Dot<TElement>(top, right);
                c2 += Dot<TElement>(bottom, left);
                c3 += Dot<TElement>(bottom, right);
            }
        }
        return new Accumulators { C0 = c0, C1 = c1, C2 = c2, C3 = c3 };
    }

    /// <summary>One m16n8 accumulator fragment of a lane.</summary>
    public struct Accumulators
    {
        public float C0, C1, C2, C3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TElement>(uint x, uint y) where TElement : struct, ITensorElement
    {
        var e = default(TElement);
        return e.Widen(x & 0xFFFF) * e.Widen(y & 0xFFFF) + e.Widen(x >> 16) * e.Widen(y >> 16);
    }
}
