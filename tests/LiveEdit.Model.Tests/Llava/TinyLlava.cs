using System.Text;
using LiveEdit.Model.Images;
using LiveEdit.Model.Llava;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>Tiny LLaVA configurations with in-memory tokenizer and image processor, for tests of the model alone.</summary>
internal static class TinyLlava
{
    public const int ImageSize = 8;

    /// <summary>CLIP (3 layers, class token, feature layer −2, "default") with a LLaMA decoder (4 query heads on 2 KV heads, separate LM head).</summary>
    public static LlavaConfig ClipLlama(int kvHeads = 2, int textLayers = 4, int maxPositions = 128) => new(
        new LlavaVisionConfig(VisionTowerKind.Clip, HiddenSize: 16, IntermediateSize: 32, Layers: 3, Heads: 2, ImageSize: ImageSize, PatchSize: 4, LayerNormEps: 1e-5, HiddenAct: "quick_gelu"),
        new LlavaTextConfig(DecoderKind.Llama, HiddenSize: 32, IntermediateSize: 64, Layers: textLayers, Heads: 4, KeyValueHeads: kvHeads, VocabSize: ByteTokenizer.Size + 8,
            RmsNormEps: 1e-6, RopeTheta: 10000, MaxPositionEmbeddings: maxPositions, AttentionBias: false, TieWordEmbeddings: false, HiddenAct: "silu"),
        ImageTokenIndex: ByteTokenizer.Image, ProjectorHiddenAct: "gelu", VisionFeatureLayer: -2, VisionFeatureSelectStrategy: "default", MultimodalProjectorBias: true);

    /// <summary>SigLIP (2 layers, no class token, last layer, "full") with a Qwen2 decoder (q/k/v biases, one KV head, tied embeddings).</summary>
    public static LlavaConfig SiglipQwen2(int maxPositions = 128) => new(
        new LlavaVisionConfig(VisionTowerKind.Siglip, HiddenSize: 16, IntermediateSize: 32, Layers: 2, Heads: 2, ImageSize: ImageSize, PatchSize: 4, LayerNormEps: 1e-6, HiddenAct: "gelu_pytorch_tanh"),
        new LlavaTextConfig(DecoderKind.Qwen2, HiddenSize: 32, IntermediateSize: 48, Layers: 3, Heads: 4, KeyValueHeads: 1, VocabSize: ByteTokenizer.Size + 8,
            RmsNormEps: 1e-6, RopeTheta: 1_000_000, MaxPositionEmbeddings: maxPositions, AttentionBias: true, TieWordEmbeddings: true, HiddenAct: "silu"),
        ImageTokenIndex: ByteTokenizer.Image, ProjectorHiddenAct: "gelu", VisionFeatureLayer: -1, VisionFeatureSelectStrategy: "full", MultimodalProjectorBias: true);

    /// <summary>A model of <paramref name="config"/> with the byte tokenizer, the scaling processor and llava-1.5's prompt format.</summary>
    public static LlavaModel Create(LlavaConfig config, long seed = 0, int? editLayer = null, ScalarType dtype = ScalarType.Float32) =>
        LlavaModel.Create(config, new ByteTokenizer(), new ScalingProcessor(config.Vision.ImageSize), LlavaPromptFormat.Llava15, dtype: dtype, seed: seed, editLayer: editLayer);

    /// <summary>A reproducible image input [3, S, S] (what the processor would give: values around 0).</summary>
    public static Tensor Image(int seed, int size = ImageSize) => randn([3, size, size], generator: new Generator((ulong)(1000 + seed)));
}

/// <summary>
/// A byte-level tokenizer with one SentencePiece-like merge: a space followed by a letter is one token (so the template's
/// space and the prompt's first letter share a token, as "▁what" does). Special tokens written literally map to their ids.
/// </summary>
internal sealed class ByteTokenizer : ITextTokenizer
{
    public const int Pad = 0, Bos = 1, Eos = 2, Image = 3, Bytes = 4, Merged = Bytes + 256, Size = Merged + 52;
    private static readonly (string Text, int Id)[] Specials = [("<image>", Image), ("</s>", Eos), ("<s>", Bos)];

    public int VocabSize => Size;
    public int? BosId => Bos;
    public int EosId => Eos;
    public int PadId => Pad;

    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(Bos);
        var i = 0;
        while (i < text.Length)
        {
            var special = Specials.FirstOrDefault(s => string.CompareOrdinal(text, i, s.Text, 0, s.Text.Length) == 0);
            if (special.Text is not null)
            {
                ids.Add(special.Id);
                i += special.Text.Length;
                continue;
            }
            if (text[i] == ' ' && i + 1 < text.Length && char.IsAsciiLetter(text[i + 1]))
            {
                var c = text[i + 1];
                ids.Add(Merged + (char.IsAsciiLetterLower(c) ? c - 'a' : 26 + c - 'A'));
                i += 2;
                continue;
            }
            var next = char.IsSurrogatePair(text, i) ? 2 : 1;
            foreach (var b in Encoding.UTF8.GetBytes(text.Substring(i, next))) ids.Add(Bytes + b);
            i += next;
        }
        return ids;
    }

    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (id is >= Bytes and < Merged) bytes.Add((byte)(id - Bytes));
            else if (id is >= Merged and < Size)
            {
                var k = id - Merged;
                bytes.Add((byte)' ');
                bytes.Add((byte)(k < 26 ? 'a' + k : 'A' + k - 26));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

/// <summary>Channels-first floats rescaled to [−1, 1]; the image must already have the tower's size.</summary>
internal sealed class ScalingProcessor(int size) : IImageProcessor
{
    public int OutputSize => size;

    public Tensor Process(RgbImage image)
    {
        if (image.Width != size || image.Height != size) throw new ArgumentException($"the test processor takes {size}×{size} images");
        return image.ToTensor() * 2 - 1;
    }
}
