namespace LiveEdit.Model.Vlm;

/// <summary>
/// TinyVLM sizes (stored as config.json in a checkpoint folder). The vision stem downsamples by 8, so an
/// image of <see cref="ImageSize"/> pixels gives (ImageSize/8)² vision tokens.
/// </summary>
/// <param name="ImageSize">Input side in pixels (a multiple of 8).</param>
/// <param name="VisionWidth">Width of the vision transformer.</param>
/// <param name="VisionLayers">Vision transformer blocks (bidirectional).</param>
/// <param name="Width">LM width d.</param>
/// <param name="Layers">Decoder blocks (pre-LN, causal).</param>
/// <param name="Heads">Attention heads (vision and LM).</param>
/// <param name="EditLayer">l_e: 0-based decoder block whose output LiveEdit edits.</param>
/// <param name="MaxLength">Longest sequence (vision + prompt + answer) the position table covers.</param>
/// <param name="VocabSize">Tokenizer vocabulary size.</param>
/// <param name="MlpRatio">MLP hidden width as a multiple of the block width.</param>
public sealed record TinyVlmConfig(
    int ImageSize = 32,
    int VisionWidth = 96,
    int VisionLayers = 2,
    int Width = 96,
    int Layers = 4,
    int Heads = 4,
    int EditLayer = 2,
    int MaxLength = 48,
    int VocabSize = 0,
    int MlpRatio = 4)
{
    /// <summary>N_v: vision tokens per image.</summary>
    public int VisionTokens => ImageSize / 8 * (ImageSize / 8);

    /// <summary>Throws when the sizes do not fit together.</summary>
    public void Validate()
    {
        if (ImageSize < 8 || ImageSize % 8 != 0) throw new ArgumentException($"ImageSize {ImageSize} must be a positive multiple of 8");
        if (Width % Heads != 0 || VisionWidth % Heads != 0) throw new ArgumentException("Width and VisionWidth must be multiples of Heads");
        if (EditLayer < 0 || EditLayer >= Layers) throw new ArgumentException($"EditLayer {EditLayer} must be in [0, {Layers})");
        if (VocabSize < 5) throw new ArgumentException("VocabSize must come from a fitted tokenizer");
        if (MaxLength <= VisionTokens + 2) throw new ArgumentException("MaxLength must leave room for a prompt and an answer after the vision tokens");
    }

    /// <summary>The committed checkpoint's sizes (vocabulary filled in from the tokenizer).</summary>
    public static TinyVlmConfig Default { get; } = new();

    /// <summary>A very small model for tests (trains in well under a minute).</summary>
    public static TinyVlmConfig Micro { get; } = new(VisionWidth: 48, VisionLayers: 1, Width: 64, Layers: 2, Heads: 2, EditLayer: 1);
}
