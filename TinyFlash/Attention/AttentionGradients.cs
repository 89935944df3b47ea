namespace TinyFlash;

/// <summary>What a host call of <see cref="FlashEngine.AttentionBackward(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, AttentionShape, AttentionOptions?)"/> returns.</summary>
/// <param name="GradQuery">∂L/∂q, in the query's shape and layout.</param>
/// <param name="GradKey">∂L/∂k, in the key's shape and layout (summed over the query heads that share each key/value head).</param>
/// <param name="GradValue">∂L/∂v, in the value's shape and layout (likewise summed).</param>
/// <typeparam name="T">The storage type of the tensors.</typeparam>
public sealed record AttentionGradients<T>(T[] GradQuery, T[] GradKey, T[] GradValue);
