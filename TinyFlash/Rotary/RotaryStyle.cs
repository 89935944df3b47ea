namespace TinyFlash;

/// <summary>Which feature pairs rotary position embeddings rotate together.</summary>
public enum RotaryStyle
{
    /// <summary>Features i and i + d/2 (GPT-NeoX, Llama as Hugging Face stores it).</summary>
    HalfSplit,

    /// <summary>Features 2i and 2i + 1 (GPT-J, the RoFormer paper).</summary>
    Interleaved,
}
