using System.Security.Cryptography;
using System.Text;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Llava;

/// <summary>
/// A LLaVA-family model (docs/llava-model.md): a CLIP or SigLIP vision tower whose chosen hidden state goes through
/// the two-layer projector into a LLaMA or Qwen2 decoder, in place of the image placeholder of the chat template.
/// A prepared row is [template prefix][vision][template between][prompt][template suffix][answer][eos][padding];
/// <see cref="VlmInputs"/> names the vision range, the prompt range and the answer range (which ends with the
/// end-of-sequence token). Parameters carry the Hugging Face llava-1.5 key names (<see cref="NamedWeights"/>).
/// Hidden states and logits cross the interface in float32, whatever <see cref="DType"/> the model computes in.
/// </summary>
public sealed class LlavaModel : nn.Module, IVisionLanguageModel
{
    private readonly LlavaVisionTower vision_tower;
    private readonly LlavaProjector multi_modal_projector;
    private readonly LlavaLanguageModel language_model;
    private readonly IReadOnlyList<string> names;
    private string? weightsSha256;

    private LlavaModel(LlavaConfig config, ITextTokenizer tokenizer, IImageProcessor processor, LlavaPromptFormat format, Device device, ScalarType dtype, int? editLayer)
        : base(nameof(LlavaModel))
    {
        Validate(config, tokenizer, processor, dtype);
        Config = config;
        Tokenizer = tokenizer;
        Processor = processor;
        Format = format;
        Device = device;
        DType = dtype;
        vision_tower = new LlavaVisionTower(config, device, dtype);
        multi_modal_projector = new LlavaProjector(config, device, dtype);
        language_model = new LlavaLanguageModel(config.Text, device, dtype);
        RegisterComponents();
        names = CanonicalNames(config);
        var registered = named_parameters().Select(p => p.name).ToHashSet(StringComparer.Ordinal);
        if (!registered.SetEquals(names))
            throw new InvalidOperationException($"parameter names differ from the canonical ones: {string.Join(", ", registered.Except(names).Concat(names.Except(registered)))}");
        foreach (var p in parameters()) p.requires_grad = false;
        eval();
        var layers = config.Text.Layers;
        var le = editLayer ?? EditLayerFor(layers);
        if (le < 0 || le >= layers) throw new ArgumentOutOfRangeException(nameof(editLayer), $"the edit layer must be one of the decoder's layers 0 … {layers - 1}, not {le}");
        Shape = new VlmShape(config.Text.HiddenSize, config.ImageTokens, le, layers, config.Text.VocabSize);
    }

    /// <summary>
    /// A model with seeded random weights (<paramref name="seed"/> alone decides every value, whatever the device):
    /// matrices U(±1/√fan_in), biases U(±0.1), embeddings and the class token N(0, 0.02), norm weights 1 + U(±0.1).
    /// For tests and for loaders that overwrite every tensor.
    /// </summary>
    /// <param name="editLayer">l_e; by default <see cref="EditLayerFor"/> of the decoder's depth.</param>
    public static LlavaModel Create(LlavaConfig config, ITextTokenizer tokenizer, IImageProcessor processor, LlavaPromptFormat template,
        Device? device = null, ScalarType dtype = ScalarType.Float32, long seed = 0, int? editLayer = null)
    {
        var model = new LlavaModel(config, tokenizer, processor, template, device ?? CPU, dtype, editLayer);
        try
        {
            model.Initialise(seed);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A model whose tensors hold whatever TorchSharp's module constructors put there (no seeded initialisation): for a
    /// loader that overwrites every tensor next and should not spend the time drawing random weights first.
    /// </summary>
    public static LlavaModel Allocate(LlavaConfig config, ITextTokenizer tokenizer, IImageProcessor processor, LlavaPromptFormat template,
        Device? device = null, ScalarType dtype = ScalarType.Float32, int? editLayer = null) =>
        new(config, tokenizer, processor, template, device ?? CPU, dtype, editLayer);

    /// <summary>
    /// <see cref="Create(LlavaConfig, ITextTokenizer, IImageProcessor, LlavaPromptFormat, Device?, ScalarType, long, int?)"/>
    /// with a checkpoint's chat template.
    /// </summary>
    public static LlavaModel Create(LlavaConfig config, ITextTokenizer tokenizer, IImageProcessor processor, LlavaChatTemplate template,
        Device? device = null, ScalarType dtype = ScalarType.Float32, long seed = 0, int? editLayer = null) =>
        Create(config, tokenizer, processor, new LlavaPromptFormat(template.Format, template.ImageToken), device, dtype, seed, editLayer);

    /// <summary>
    /// The edit layer chosen from the decoder's depth: round(0.66·L), 0-based, within the layers — 21 of LLaVA-1.5-7B's 32
    /// as in the paper, 16 of Qwen2-0.5B's 24.
    /// </summary>
    public static int EditLayerFor(int layers) => Math.Clamp((int)Math.Round(0.66 * layers, MidpointRounding.AwayFromZero), 0, Math.Max(0, layers - 1));

    /// <summary>The configuration the model was built from.</summary>
    public LlavaConfig Config { get; }

    /// <summary>The checkpoint's tokenizer.</summary>
    public ITextTokenizer Tokenizer { get; }

    /// <summary>The checkpoint's image preprocessing.</summary>
    public IImageProcessor Processor { get; }

    /// <summary>The chat template's prompt format.</summary>
    public LlavaPromptFormat Format { get; }

    /// <summary>"Llava".</summary>
    public string Kind => "Llava";

    /// <summary>Where the weights live; every tensor the model makes for a query is made there.</summary>
    public Device Device { get; }

    /// <summary>The dtype the model computes in (float32, bfloat16 or float16).</summary>
    public ScalarType DType { get; }

    /// <inheritdoc />
    public VlmShape Shape { get; }

    /// <summary>Vision tokens of one image (the placeholder expands to this many positions).</summary>
    public int ImageTokens => Config.ImageTokens;

    /// <summary>The longest sequence the decoder reads (max_position_embeddings).</summary>
    public int MaxLength => Config.Text.MaxPositionEmbeddings;

    internal LlavaVisionTower Tower => vision_tower;

    internal LlavaProjector Projector => multi_modal_projector;

    internal LlavaDecoder Decoder => language_model.Decoder;

    // ---------------------------------------------------------------- weights

    /// <summary>
    /// The canonical parameter names of a configuration, in the fixed order of <see cref="NamedWeights"/>: the vision
    /// tower (embeddings, pre-norm, layers, post-norm), the projector, the decoder (embedding, layers, norm), the LM head.
    /// </summary>
    public static IReadOnlyList<string> CanonicalNames(LlavaConfig config)
    {
        var list = new List<string>();
        var clip = config.Vision.Kind == VisionTowerKind.Clip;
        const string v = "vision_tower.vision_model.";
        void WeightAndBias(string prefix, bool bias = true)
        {
            list.Add(prefix + ".weight");
            if (bias) list.Add(prefix + ".bias");
        }
        WeightAndBias(v + "embeddings.patch_embedding", bias: !clip);
        if (clip) list.Add(v + "embeddings.class_embedding");
        list.Add(v + "embeddings.position_embedding.weight");
        if (clip) WeightAndBias(v + "pre_layrnorm");
        for (var i = 0; i < config.Vision.Layers; i++)
        {
            var layer = $"{v}encoder.layers.{i}.";
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" }) WeightAndBias(layer + "self_attn." + proj);
            WeightAndBias(layer + "layer_norm1");
            WeightAndBias(layer + "mlp.fc1");
            WeightAndBias(layer + "mlp.fc2");
            WeightAndBias(layer + "layer_norm2");
        }
        WeightAndBias(v + "post_layernorm");
        WeightAndBias("multi_modal_projector.linear_1", config.MultimodalProjectorBias);
        WeightAndBias("multi_modal_projector.linear_2", config.MultimodalProjectorBias);
        const string t = "language_model.model.";
        list.Add(t + "embed_tokens.weight");
        var qkvBias = config.Text.AttentionBias || config.Text.Kind == DecoderKind.Qwen2;
        var oBias = config.Text.AttentionBias && config.Text.Kind == DecoderKind.Llama;
        for (var i = 0; i < config.Text.Layers; i++)
        {
            var layer = $"{t}layers.{i}.";
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj" }) WeightAndBias(layer + "self_attn." + proj, qkvBias);
            WeightAndBias(layer + "self_attn.o_proj", oBias);
            foreach (var proj in new[] { "gate_proj", "up_proj", "down_proj" }) list.Add(layer + "mlp." + proj + ".weight");
            list.Add(layer + "input_layernorm.weight");
            list.Add(layer + "post_attention_layernorm.weight");
        }
        list.Add(t + "norm.weight");
        if (!config.Text.TieWordEmbeddings) list.Add("language_model.lm_head.weight");
        return list;
    }

    /// <summary>Every parameter under its canonical name, in the order of <see cref="CanonicalNames"/> (the LM head omitted when tied).</summary>
    public IReadOnlyList<(string Name, Tensor Tensor)> NamedWeights()
    {
        var byName = named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        return names.Select(n => (n, byName[n])).ToArray();
    }

    /// <inheritdoc />
    /// <remarks>
    /// SHA-256 over <see cref="NamedWeights"/> in order; per tensor: its name in UTF-8 and a 0 byte, its dtype's name
    /// (float32, bfloat16, float16) and a 0 byte, the rank as a little-endian int32 and each dimension as a
    /// little-endian int64, then the element bytes, little-endian, row-major. Computed once, on first use.
    /// </remarks>
    public string WeightsSha256 => weightsSha256 ??= ComputeWeightsSha256();

    /// <summary>Forgets the cached hash (call after overwriting weights, as a loader does).</summary>
    public void WeightsChanged() => weightsSha256 = null;

    private string ComputeWeightsSha256()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        foreach (var (name, tensor) in NamedWeights())
        {
            hash.AppendData(Encoding.UTF8.GetBytes(name + "\0" + DTypeName(tensor.dtype) + "\0"));
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(number, tensor.shape.Length);
            hash.AppendData(number[..4]);
            foreach (var dim in tensor.shape)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(number, dim);
                hash.AppendData(number);
            }
            using var scope = NewDisposeScope();
            using var host = tensor.detach().cpu().contiguous();
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("the weights hash is defined over little-endian bytes");
            hash.AppendData(host.bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        ScalarType.Float64 => "float64",
        _ => dtype.ToString().ToLowerInvariant(),
    };

    private void Initialise(long seed)
    {
        using var _ = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var (name, p) in NamedWeights())
        {
            // One scope per tensor: a large model does not hold every draw's temporaries at once.
            using var scope = NewDisposeScope();
            var shape = p.shape;
            Tensor value;
            if (name.EndsWith(".bias", StringComparison.Ordinal)) value = (rand(shape, generator: generator) * 2 - 1) * 0.1;
            else if (name.Contains("embed", StringComparison.Ordinal) && !name.Contains("patch_embedding", StringComparison.Ordinal))
                value = randn(shape, generator: generator) * 0.02;
            else if (shape.Length == 1) value = 1 + (rand(shape, generator: generator) * 2 - 1) * 0.1;
            else value = (rand(shape, generator: generator) * 2 - 1) / Math.Sqrt(p.numel() / shape[0]);
            p.copy_(value);
        }
        weightsSha256 = null;
    }

    private static void Validate(LlavaConfig config, ITextTokenizer tokenizer, IImageProcessor processor, ScalarType dtype)
    {
        var v = config.Vision;
        var t = config.Text;
        void Need(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message, nameof(config));
        }
        Need(dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16, $"dtype {dtype} is not supported (float32, bfloat16, float16)");
        Need(v.HiddenSize > 0 && v.Heads > 0 && v.HiddenSize % v.Heads == 0, $"vision_config.hidden_size {v.HiddenSize} must split into {v.Heads} heads");
        // The patch convolution has no padding: a remainder (SigLIP-384 with 14-pixel patches: 27×27 patches) is dropped, as in
        // the reference implementation, so the side need not be a multiple of the patch.
        Need(v.PatchSize > 0 && v.ImageSize >= v.PatchSize, $"vision_config.image_size {v.ImageSize} must be at least patch_size {v.PatchSize}");
        Need(v.Layers >= 1 && v.IntermediateSize > 0, "vision_config needs at least one layer and an intermediate size");
        Need(t.HiddenSize > 0 && t.Heads > 0 && t.HiddenSize % t.Heads == 0, $"text_config.hidden_size {t.HiddenSize} must split into {t.Heads} heads");
        Need(t.KeyValueHeads > 0 && t.Heads % t.KeyValueHeads == 0, $"text_config.num_attention_heads {t.Heads} must be a multiple of num_key_value_heads {t.KeyValueHeads}");
        Need(t.HeadDim % 2 == 0, $"the decoder's head width {t.HeadDim} must be even for rotary embeddings");
        Need(t.Layers >= 1 && t.VocabSize > 0 && t.MaxPositionEmbeddings > 0 && t.IntermediateSize > 0, "text_config needs layers, a vocabulary, positions and an intermediate size");
        Need(t.RopeTheta > 0, $"rope_theta {t.RopeTheta} must be positive");
        Need(config.VisionFeatureSelectStrategy is "default" or "full", $"vision_feature_select_strategy '{config.VisionFeatureSelectStrategy}' is not supported (default, full)");
        // Hugging Face's "default" drops position 0 whatever the tower; for SigLIP that is a real patch, which the
        // config's ImageTokens does not count: refuse rather than disagree about the vision token count.
        Need(v.Kind == VisionTowerKind.Clip || config.VisionFeatureSelectStrategy == "full",
            "a SigLIP tower has no class token: vision_feature_select_strategy must be \"full\"");
        Need(processor.OutputSize == v.ImageSize, $"the image processor makes {processor.OutputSize}-pixel images, the vision tower reads {v.ImageSize}");
        Need(tokenizer.VocabSize <= t.VocabSize, $"the tokenizer has {tokenizer.VocabSize} ids, the embedding only {t.VocabSize} rows");
        foreach (var (what, id) in new[] { ("image_token_index", config.ImageTokenIndex), ("the end-of-sequence id", tokenizer.EosId), ("the padding id", tokenizer.PadId), ("the beginning-of-sequence id", tokenizer.BosId ?? 0) })
            Need(id >= 0 && id < t.VocabSize, $"{what} {id} is outside the vocabulary (0 … {t.VocabSize - 1})");
    }

    // ---------------------------------------------------------------- inputs

    /// <summary>One decoded image → this model's input tensor [3, S, S] float32 on <see cref="Device"/> (what <see cref="VlmExample.Image"/> carries).</summary>
    public Tensor ImageInput(RgbImage image)
    {
        using var scope = NewDisposeScope();
        var pixels = Processor.Process(image);
        return pixels.to(ScalarType.Float32, Device).MoveToOuterDisposeScope();
    }

    /// <summary>A row's tokens before its answer, the image placeholder expanded, with its ranges.</summary>
    internal sealed record PromptLayout(int[] Ids, int VisionStart, int VisionCount, int PromptStart, int PromptLength);

    /// <summary>
    /// The tokens of the formatted prompt: the whole text is tokenised at once (as the checkpoint was trained), the
    /// prompt's tokens are those the text up to the prompt's end shares with it after the text before the prompt,
    /// and the one image placeholder becomes <see cref="ImageTokens"/> positions.
    /// </summary>
    internal PromptLayout LayoutOf(string prompt, bool withImage, int row)
    {
        if (string.IsNullOrWhiteSpace(prompt)) throw new ArgumentException($"example {row} has an empty prompt");
        string before, shown, after;
        try
        {
            (before, shown, after) = Split(prompt, withImage);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"example {row}: {e.Message}", e);
        }
        var full = Tokenizer.Encode(before + shown + after, addBos: true);
        var start = CommonPrefix(full, Tokenizer.Encode(before, addBos: true));
        var end = Math.Max(CommonPrefix(full, Tokenizer.Encode(before + shown, addBos: true)), Math.Min(full.Count, start + 1));
        if (start >= full.Count) throw new InvalidOperationException($"example {row}: the prompt left no tokens of its own");
        var image = Config.ImageTokenIndex;
        var placeholders = Enumerable.Range(0, full.Count).Where(i => full[i] == image).ToArray();
        if (placeholders.Any(i => i >= start && i < end))
            throw new ArgumentException($"example {row}: the prompt contains the image placeholder '{Format.ImageToken}', which only the model places");
        if (placeholders.Length != (withImage ? 1 : 0))
            throw new InvalidOperationException($"the chat template gives {placeholders.Length} image placeholders for {(withImage ? "an image" : "no image")}");
        if (!withImage) return new PromptLayout([.. full], 0, 0, start, end - start);
        var at = placeholders[0];
        if (at > start) throw new NotSupportedException("the chat template places the image after the prompt; the vision range must come first");
        var n = ImageTokens;
        var ids = new int[full.Count - 1 + n];
        for (var i = 0; i < at; i++) ids[i] = full[i];
        Array.Fill(ids, image, at, n);
        for (var i = at + 1; i < full.Count; i++) ids[i - 1 + n] = full[i];
        return new PromptLayout(ids, at, n, start - 1 + n, end - start);
    }

    private (string Before, string Prompt, string After) Split(string prompt, bool withImage)
    {
        var text = Format.Format(prompt, withImage);
        const string marker = "\uE000";
        var probe = Format.Format(marker, withImage);
        var at = probe.IndexOf(marker, StringComparison.Ordinal);
        if (at >= 0)
        {
            var (before, after) = (probe[..at], probe[(at + marker.Length)..]);
            if (text == before + prompt + after) return (before, prompt, after);
            var trimmed = prompt.Trim();
            if (text == before + trimmed + after) return (before, trimmed, after);
        }
        var found = text.IndexOf(prompt, StringComparison.Ordinal);
        if (found >= 0) return (text[..found], prompt, text[(found + prompt.Length)..]);
        throw new InvalidOperationException("the chat template does not contain the prompt verbatim");
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        var n = 0;
        while (n < a.Count && n < b.Count && a[n] == b[n]) n++;
        return n;
    }

    /// <summary>The answer's tokens followed by the end-of-sequence id; the placeholder may not appear in it.</summary>
    private int[] AnswerIds(string answer, int row)
    {
        var ids = Tokenizer.Encode(answer, addBos: false);
        if (ids.Contains(Config.ImageTokenIndex))
            throw new ArgumentException($"example {row}: the answer contains the image placeholder '{Format.ImageToken}'");
        return [.. ids, Tokenizer.EosId];
    }

    /// <inheritdoc />
    /// <remarks>
    /// VisionStart/VisionCount: the expanded placeholder (count 0 and start 0 without an image); PromptStart/PromptLength:
    /// the user's prompt inside the template, template text around it excluded; AnswerStart: right after the template's
    /// suffix, AnswerLength = answer tokens + 1 (end of sequence). Right padding with the tokenizer's padding id.
    /// </remarks>
    public VlmInputs Prepare(IReadOnlyList<VlmExample> examples) =>
        Build(examples.Select((e, i) => (e.Image, LayoutOf(e.Prompt, e.Image is not null, i), e.Answer is null ? Array.Empty<int>() : AnswerIds(e.Answer, i))).ToList());

    /// <summary>A batch from prompt layouts and answer ids (used as given: no end token added).</summary>
    internal VlmInputs Build(IReadOnlyList<(Tensor? Image, PromptLayout Layout, int[] Answer)> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("at least one example is needed", nameof(rows));
        var b = rows.Count;
        int[] vs = new int[b], vc = new int[b], ps = new int[b], pl = new int[b], @as = new int[b], al = new int[b], len = new int[b];
        for (var i = 0; i < b; i++)
        {
            var (_, layout, answer) = rows[i];
            (vs[i], vc[i], ps[i], pl[i]) = (layout.VisionStart, layout.VisionCount, layout.PromptStart, layout.PromptLength);
            @as[i] = layout.Ids.Length;
            al[i] = answer.Length;
            len[i] = @as[i] + al[i];
            if (len[i] > MaxLength)
                throw new ArgumentException($"example {i} is {len[i]} tokens long (template, vision, prompt and answer); the model reads at most {MaxLength}. Shorten the prompt.");
        }
        var l = len.Max();
        var ids = new long[b * l];
        Array.Fill(ids, Tokenizer.PadId);
        for (var i = 0; i < b; i++)
        {
            var (_, layout, answer) = rows[i];
            for (var t = 0; t < layout.Ids.Length; t++) ids[i * l + t] = layout.Ids[t];
            for (var t = 0; t < answer.Length; t++) ids[i * l + @as[i] + t] = answer[t];
        }
        Tensor? images = null;
        if (rows.Any(r => r.Image is not null))
        {
            var side = Config.Vision.ImageSize;
            using var scope = NewDisposeScope();
            var planes = rows.Select((r, i) =>
            {
                if (r.Image is null) return zeros(3, side, side, ScalarType.Float32, Device);
                if (r.Image.shape.Length != 3 || r.Image.shape[0] != 3 || r.Image.shape[1] != side || r.Image.shape[2] != side)
                    throw new ArgumentException($"example {i}: image shape [{string.Join(", ", r.Image.shape)}], the model needs [3, {side}, {side}] (use ImageInput)");
                return r.Image.to(ScalarType.Float32, Device);
            }).ToArray();
            images = stack(planes).MoveToOuterDisposeScope();                                      // [B, 3, S, S]
        }
        return new VlmInputs(tensor(ids, [b, l], device: Device), images, vs, vc, ps, pl, @as, al, len);
    }

    /// <summary>The projected features of images [n, 3, S, S] → [n, ImageTokens, H] in the model's dtype.</summary>
    internal Tensor ImageFeatures(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        return multi_modal_projector.forward(vision_tower.forward(pixels)).MoveToOuterDisposeScope();
    }

    /// <summary>Input embeddings: token embeddings, with the image features at the vision positions. [B, L, H]</summary>
    private Tensor Embed(VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        var ids = inputs.TokenIds.to(ScalarType.Int64, Device);
        var (b, l) = (ids.shape[0], ids.shape[1]);
        var x = Decoder.Embed(ids);                                                                 // [B, L, H]
        var imageRows = Enumerable.Range(0, inputs.Count).Where(inputs.HasImage).Select(i => (long)i).ToArray();
        if (imageRows.Length > 0)
        {
            if (inputs.Images is null) throw new ArgumentException("the batch has vision positions but no images");
            var pixels = imageRows.Length == b ? inputs.Images : inputs.Images.index_select(0, tensor(imageRows, device: inputs.Images.device));
            var features = ImageFeatures(pixels.to(Device));                                        // [n, N, H]
            var mask = new bool[b * l];
            foreach (var i in imageRows)
            {
                if (inputs.VisionCount[i] != ImageTokens) throw new ArgumentException($"example {i} has {inputs.VisionCount[i]} vision positions; an image fills {ImageTokens}");
                Array.Fill(mask, true, (int)(i * l + inputs.VisionStart[i]), inputs.VisionCount[i]);
            }
            // Row-major order of the mask is the order of the features: image rows ascending, positions ascending. As
            // transformers commit 00d3cdbeaab26587a543f75df7997a53a6fb146b src/transformers/models/llava/modeling_llava.py
            // L292–L303 (LlavaModel.forward): mask = input_ids == image_token_id, the counts must agree, masked_scatter.
            x = x.masked_scatter(tensor(mask, [b, l, 1], device: Device).expand_as(x), features.to_type(x.dtype));
        }
        return x.MoveToOuterDisposeScope();
    }

    private (Tensor Cos, Tensor Sin) Rope(Tensor positions) =>
        LlavaOps.RopeTables(positions, Config.Text.HeadDim, Config.Text.RopeTheta, DType);

    private Tensor Rewrite(Tensor h, Func<Tensor, Tensor> atEditLayer) => atEditLayer(h.to_type(ScalarType.Float32)).to(DType, Device);

    /// <summary>Embeddings through layers 0 … l_e, in the model's dtype. [B, L, H]</summary>
    private Tensor ToEditLayer(VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        var h = Embed(inputs);
        var (cos, sin) = Rope(arange(h.shape[1], ScalarType.Int64, Device).unsqueeze(0));
        for (var i = 0; i <= Shape.EditLayer; i++) h = Decoder.Layer(i).Forward(h, cos, sin);
        return h.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    /// <remarks>float32, whatever the model's dtype.</remarks>
    public Tensor HiddenAtEditLayer(VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        return ToEditLayer(inputs).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    /// <remarks>The hidden states are cast to the model's dtype and device; the logits are float32.</remarks>
    public Tensor LogitsFromEditLayer(VlmInputs inputs, Tensor hiddenAtEditLayer)
    {
        using var scope = NewDisposeScope();
        return FromEditLayer(hiddenAtEditLayer.to(DType, Device)).MoveToOuterDisposeScope();
    }

    private Tensor FromEditLayer(Tensor h)
    {
        using var scope = NewDisposeScope();
        var (cos, sin) = Rope(arange(h.shape[1], ScalarType.Int64, Device).unsqueeze(0));
        for (var i = Shape.EditLayer + 1; i < Shape.Layers; i++) h = Decoder.Layer(i).Forward(h, cos, sin);
        return language_model.Head(h).to_type(ScalarType.Float32).MoveToOuterDisposeScope();      // [B, L, V]
    }

    /// <inheritdoc />
    /// <remarks><paramref name="atEditLayer"/> sees float32 hidden states; its result is cast back to the model's dtype.</remarks>
    public Tensor Logits(VlmInputs inputs, Func<Tensor, Tensor>? atEditLayer = null)
    {
        using var scope = NewDisposeScope();
        var h = ToEditLayer(inputs);
        if (atEditLayer is not null) h = Rewrite(h, atEditLayer);
        return FromEditLayer(h).MoveToOuterDisposeScope();
    }

    // ---------------------------------------------------------------- decoding

    /// <inheritdoc />
    /// <remarks>The cache holds the key/value heads as stored (not repeated to the query heads), [B, KV, C, hd] per layer.</remarks>
    public (Tensor Logits, KvCache Cache) Prefill(VlmInputs inputs, int maxNewTokens, Func<Tensor, Tensor>? atEditLayer = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        using var scope = NewDisposeScope();
        var (b, l) = (inputs.TokenIds.shape[0], inputs.TokenIds.shape[1]);
        var capacity = Math.Min(MaxLength, l + maxNewTokens);
        var text = Config.Text;
        var keys = new Tensor[text.Layers];
        var values = new Tensor[text.Layers];
        for (var i = 0; i < text.Layers; i++)
        {
            keys[i] = zeros([b, text.KeyValueHeads, capacity, text.HeadDim], DType, Device);   // [B, KV, C, hd]
            values[i] = zeros([b, text.KeyValueHeads, capacity, text.HeadDim], DType, Device);
        }
        var cache = new KvCache(keys, values, inputs.Length);
        try
        {
            var h = Embed(inputs);                                                                  // the images, once
            var (cos, sin) = Rope(arange(l, ScalarType.Int64, Device).unsqueeze(0));
            for (var i = 0; i < text.Layers; i++)
            {
                h = Decoder.Layer(i).Forward(h, cos, sin, cache.Keys(i), cache.Values(i));
                if (i == Shape.EditLayer && atEditLayer is not null) h = Rewrite(h, atEditLayer);  // [B, L, H]
            }
            var last = tensor(inputs.Length.Select(n => (long)(n - 1)).ToArray(), device: Device);    // [B]
            var logits = language_model.Head(h[arange(b, device: Device), last]).to_type(ScalarType.Float32);  // [B, V]
            return (logits.MoveToOuterDisposeScope(), cache);
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public Tensor Step(KvCache cache, Tensor nextTokenIds, Func<Tensor, Tensor>? atEditLayer = null)
    {
        if (nextTokenIds.shape.Length != 1 || nextTokenIds.shape[0] != cache.Count)
            throw new ArgumentException($"one next token per row ([{cache.Count}]), not [{string.Join(", ", nextTokenIds.shape)}]", nameof(nextTokenIds));
        using var scope = NewDisposeScope();
        var b = cache.Count;
        var text = Config.Text;
        var slot = tensor(cache.NextSlots().Select(p => (long)p).ToArray(), device: Device);        // [B]
        var slots = slot.view(b, 1, 1, 1).expand(b, text.KeyValueHeads, 1, text.HeadDim).contiguous();   // [B, KV, 1, hd]
        // Row i sees slots 0 … slot[i]: its own sequence and this token; never padding, later slots or other rows' lengths.
        var visible = arange(cache.Capacity, ScalarType.Int64, Device).view(1, 1, 1, -1) <= slot.view(b, 1, 1, 1);   // [B, 1, 1, C]
        var (cos, sin) = Rope(slot.view(b, 1));                                                     // [B, 1, hd]: the slot is the position
        var h = Decoder.Embed(nextTokenIds.to(ScalarType.Int64, Device)).unsqueeze(1);              // [B, 1, H]
        for (var i = 0; i < text.Layers; i++)
        {
            h = Decoder.Layer(i).Step(h, cos, sin, cache.Keys(i), cache.Values(i), slots, visible);
            if (i == Shape.EditLayer && atEditLayer is not null) h = Rewrite(h, atEditLayer);      // [B, 1, H]
        }
        return language_model.Head(h.squeeze(1)).to_type(ScalarType.Float32).MoveToOuterDisposeScope();   // [B, V]
    }

    /// <inheritdoc />
    public IReadOnlyList<string> GreedyAnswers(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached) =>
        GreedyDecode(examples, atEditLayer, maxNewTokens, decoding).Answers;

    /// <inheritdoc />
    /// <remarks>
    /// A row stops at the end-of-sequence token, after <paramref name="maxNewTokens"/> tokens, or when its next token
    /// would not fit max_position_embeddings; both decodings stop at the same points.
    /// </remarks>
    public GreedyDecoding GreedyDecode(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached, bool keepLogits = false)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var layouts = examples.Select((e, i) => LayoutOf(e.Prompt, e.Image is not null, i)).ToArray();
        return new GreedyLoop(this, examples.Count, Tokenizer.EosId, ids => Tokenizer.Decode(ids), i => layouts[i].Ids.Length, MaxLength,
                generated => Build(examples.Select((e, i) => (e.Image, layouts[i], generated[i])).ToList()))
            .Run(atEditLayer, maxNewTokens, decoding, keepLogits);
    }

    // ---------------------------------------------------------------- text limits

    /// <summary>
    /// The first reason an edit (image, <paramref name="prompt"/> → <paramref name="target"/>) cannot be learned, or
    /// null: the target longer than an answer decodes (<see cref="EditTextLimits.MaxAnswerTokens"/> tokens), text the
    /// tokenizer cannot give back, a special token written in either field, or the whole row past max_position_embeddings.
    /// </summary>
    public EditTextProblem? CheckEditText(string prompt, string target)
    {
        if (string.IsNullOrWhiteSpace(target)) return new("target", "target_empty", "'target' is empty");
        var targetIds = Tokenizer.Encode(target, addBos: false);
        if (targetIds.Count > EditTextLimits.MaxAnswerTokens)
            return new("target", "target_too_long", $"'target' is {targetIds.Count} tokens; the model answers with at most {EditTextLimits.MaxAnswerTokens}");
        if (Special(targetIds) is { } special)
            return new("target", "target_special_tokens", $"'target' contains the special token {special}, which an answer cannot carry");
        if (Tokenizer.Decode(targetIds).Trim() != target.Trim())
            return new("target", "target_unknown_words", $"'target' contains text the model's tokenizer cannot give back: {Text.Printable.Excerpt(target)}");
        if (PromptProblem(prompt, withImage: true) is { } problem) return problem;
        if (Layout(prompt, withImage: true) is not { } layout) return Unusable(prompt);
        var length = layout.Ids.Length + targetIds.Count + 1;
        return length > MaxLength
            ? new("prompt", "edit_too_long", $"with the image ({ImageTokens} tokens), the chat template, the target ({targetIds.Count}) and the end token the edit is {length} tokens, and the model reads at most {MaxLength}")
            : null;
    }

    /// <summary>Why a query with <paramref name="prompt"/> cannot be answered (a special token in it, or no room left for an answer), or null.</summary>
    public EditTextProblem? CheckQuery(string prompt, bool withImage)
    {
        if (PromptProblem(prompt, withImage) is { } problem) return problem;
        if (Layout(prompt, withImage) is not { } layout) return Unusable(prompt);
        var length = layout.Ids.Length;
        return length + 1 > MaxLength
            ? new("prompt", "prompt_too_long", $"'prompt' makes the query {length} tokens{(withImage ? $" with an image ({ImageTokens} tokens)" : "")} and the chat template; the model reads at most {MaxLength} and must still answer")
            : null;
    }

    // The checks answer for any text; a prompt the template or tokenizer refuses is a problem to report, not a throw.
    private PromptLayout? Layout(string prompt, bool withImage)
    {
        try
        {
            return LayoutOf(prompt, withImage, 0);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static EditTextProblem Unusable(string prompt) =>
        new("prompt", "prompt_unusable", $"'prompt' cannot be put into the model's chat template: {Text.Printable.Excerpt(prompt)}");

    private EditTextProblem? PromptProblem(string prompt, bool withImage)
    {
        if (string.IsNullOrWhiteSpace(prompt)) return new("prompt", "prompt_empty", "'prompt' is empty");
        if (Special(Tokenizer.Encode(prompt, addBos: false)) is { } special)
            return new("prompt", "prompt_special_tokens", $"'prompt' contains the special token {special}, which only the model places");
        return null;
    }

    private string? Special(IReadOnlyList<int> ids)
    {
        foreach (var id in ids)
        {
            if (id == Config.ImageTokenIndex) return $"'{Format.ImageToken}'";
            if (id == Tokenizer.EosId) return "end-of-sequence";
            if (Tokenizer.BosId is { } bos && id == bos) return "beginning-of-sequence";
        }
        return null;
    }
}
