namespace TinyFlash;

/// <summary>Memory order of the query, key, value and output tensors.</summary>
public enum AttentionLayout
{
    /// <summary>[batch, sequence, heads, head_dim]: FlashAttention's order, one token's heads side by side.</summary>
    Bshd,

    /// <summary>[batch, heads, sequence, head_dim]: PyTorch <c>scaled_dot_product_attention</c>'s order.</summary>
    Bhsd,
}
