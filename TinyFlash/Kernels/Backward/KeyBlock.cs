using System.Runtime.CompilerServices;
using ILGPU;
using TinyFlash.Kernels.Forward;

namespace TinyFlash.Kernels.Backward;

/// <summary>
/// The keys a group of the backward's key-block grid owns: the grid is (key block, sequence · key/value head),
/// flattened with the key block fastest; the group visits every query head that reads its key/value head. Shared by the
/// portable and the tensor-core key-block kernels.
/// </summary>
internal readonly struct KeyBlock
{
    /// <summary>The sequence, and the first query head of the key/value head (the group covers HeadsPerKeyValue of them).</summary>
    public readonly int Sequence, FirstHead;

    /// <summary>Which key block, and its first key (counted within the sequence).</summary>
    public readonly int Index, KeyStart;

    /// <summary>
    /// Rows of the key tensor the sequence owns (its gradients are written there): its packed rows, or with cache
    /// lengths every row of the tensor (zero gradients past its length).
    /// </summary>
    public readonly int OwnedKeys;

    /// <summary>Block 0 of the first query head: the sequence's key origin, key length, key start and band.</summary>
    public readonly QueryBlock Keys;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private KeyBlock(int sequence, int firstHead, int index, int keyStart, int ownedKeys, QueryBlock keys)
    {
        Sequence = sequence;
        FirstHead = firstHead;
        Index = index;
        KeyStart = keyStart;
        OwnedKeys = ownedKeys;
        Keys = keys;
    }

    /// <summary>Whether the block starts past the sequence's rows (a short packed sequence leaves its later blocks empty).</summary>
    public bool IsEmpty => KeyStart >= OwnedKeys;

    /// <summary>The block of this group (<see cref="Grid.IdxX"/>): <paramref name="blockN"/> keys, <paramref name="keyBlocks"/> blocks per sequence.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KeyBlock OfGroup<T>(in AttentionParams<T> p, int keyBlocks, int blockN) where T : unmanaged
    {
        int index = Grid.IdxX % keyBlocks;
        int sequenceHead = Grid.IdxX / keyBlocks;
        int keyValueHeads = p.QueryHeads / p.HeadsPerKeyValue;
        int sequence = sequenceHead / keyValueHeads;
        int firstHead = (sequenceHead - sequence * keyValueHeads) * p.HeadsPerKeyValue;
        var keys = QueryBlock.Of(p, sequence, firstHead, 0, blockN, 0);
        return new KeyBlock(sequence, firstHead, index, index * blockN, p.QueryOffsets.Length > 0 ? keys.KeyLength : p.KeyLength, keys);
    }
}
