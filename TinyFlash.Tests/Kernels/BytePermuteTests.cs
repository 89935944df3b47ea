using TinyFlash.Kernels.TensorCore.Instructions;

namespace TinyFlash.Tests.Kernels;

/// <summary>
/// The portable twin of <c>prmt.b32</c> (what the CPU tests of the tensor-core kernels run) against the PTX ISA's
/// definition on known operands: byte selection from the pair {b, a}, and sign replication.
/// </summary>
public class BytePermuteTests
{
    [TestCase(0x33221100u, 0x77665544u, 0x3210u, 0x33221100u)]
    [TestCase(0x33221100u, 0x77665544u, 0x7654u, 0x77665544u)]
    [TestCase(0x33221100u, 0x77665544u, 0x5410u, 0x55441100u)]
    [TestCase(0x33221100u, 0x77665544u, 0x7632u, 0x77663322u)]
    [TestCase(0x00800080u, 0u, 0x9988u, 0x0000FFFFu)]    // bytes 0, 0, 1, 1 by sign: byte 0 has its sign bit, byte 1 not
    [TestCase(0x80000000u, 0u, 0xBBAAu, 0xFFFF0000u)]    // bytes 2, 2, 3, 3 by sign
    [TestCase(0x7F7F7F7Fu, 0u, 0xBBAAu, 0u)]
    [TestCase(0x00000080u, 0x80000000u, 0xF8F8u, 0xFFFFFFFFu)] // b's byte 3 and a's byte 0, both negative
    public void The_twin_selects_and_sign_replicates_bytes_as_the_PTX_ISA_defines(uint a, uint b, uint selector, uint expected) =>
        Assert.That(BytePermute.Permute(a, b, selector), Is.EqualTo(expected));
}
