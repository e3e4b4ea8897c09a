using System.Security.Cryptography;
using System.Text.Json;
using LiveEdit.Model.Images;
using LiveEdit.Model.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// TinyVLM: <see cref="VisionEncoder"/> → projector → decoder-only transformer LM (pre-LN, causal, learned
/// positions) over a <see cref="WordTokenizer"/> vocabulary. A sequence is [N_v vision tokens][prompt][answer +
/// &lt;eos&gt;][padding] (right padding, so the causal mask keeps padding out of every real position); a text-only
/// input has no vision tokens and its prompt starts at position 0.
/// </summary>
public sealed class TinyVlm : nn.Module, IVisionLanguageModel, IEditLayerMlp
{
    /// <summary>Checkpoint file names inside a model folder.</summary>
    public const string ConfigFile = "config.json", TokenizerFile = "tokenizer.json", WeightsFile = "weights.bin", ManifestFile = "checkpoint.json";

    private readonly VisionEncoder vision;
    private readonly Sequential projector;
    private readonly Embedding token_embedding;
    private readonly Parameter positions;
    private readonly ModuleList<TransformerBlock> layers;
    private readonly LayerNorm ln_f;
    private readonly Linear lm_head;
    private string? _weightsSha256;
    private EditTextLimits? _textLimits;

    /// <summary>The name <see cref="VlmLoader"/> knows this model by (<c>Model__Kind=TinyVlm</c>).</summary>
    public const string KindName = "TinyVlm";

    /// <summary>
    /// A freshly initialised model. With <paramref name="initSeed"/> every parameter is drawn from a private
    /// generator of that seed (independent of torch's global generator and of other threads); without it the
    /// TorchSharp defaults apply (use it when weights are loaded next).
    /// </summary>
    public TinyVlm(TinyVlmConfig config, WordTokenizer tokenizer, long? initSeed = null) : base(nameof(TinyVlm))
    {
        if (config.VocabSize != tokenizer.Count) config = config with { VocabSize = tokenizer.Count };
        config.Validate();
        Config = config;
        Tokenizer = tokenizer;
        vision = new VisionEncoder(config);
        projector = nn.Sequential(("fc_1", nn.Linear(config.VisionWidth, config.Width)), ("act", nn.GELU()), ("fc_2", nn.Linear(config.Width, config.Width)));
        token_embedding = nn.Embedding(config.VocabSize, config.Width);
        positions = nn.Parameter(randn(config.MaxLength, config.Width) * 0.02);
        layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new TransformerBlock(config.Width, config.Heads, config.MlpRatio, causal: true)).ToArray());
        ln_f = nn.LayerNorm(config.Width);
        lm_head = nn.Linear(config.Width, config.VocabSize);
        RegisterComponents();
        if (initSeed is { } seed) Initialise(seed);
        Shape = new VlmShape(config.Width, config.VisionTokens, config.EditLayer, config.Layers, config.VocabSize);
    }

    /// <summary>
    /// Deterministic initialisation: 1-D weights (LayerNorm) 1, biases 0, embeddings and position tables N(0, 0.02),
    /// linear and convolution weights U(±1/√fan_in) — PyTorch's default bound — in parameter order.
    /// </summary>
    private void Initialise(long seed)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("bias")) p.zero_();
            else if (p.dim() == 1) p.fill_(1.0);
            else if (name.Contains("embedding") || name.EndsWith("positions")) p.copy_(randn(p.shape, generator: generator) * 0.02);
            else
            {
                var fanIn = p.numel() / p.shape[0];
                p.copy_((rand(p.shape, generator: generator) * 2 - 1) / Math.Sqrt(fanIn));
            }
        }
    }

    /// <summary>Sizes.</summary>
    public TinyVlmConfig Config { get; }

    /// <inheritdoc />
    public string Kind => KindName;

    /// <inheritdoc />
    /// <remarks>CPU unless <see cref="Load"/> or <see cref="MoveTo"/> placed the weights elsewhere.</remarks>
    public Device Device { get; private set; } = CPU;

    /// <inheritdoc />
    /// <remarks>TinyVLM runs in float32 only.</remarks>
    public ScalarType DType => ScalarType.Float32;

    /// <summary>Moves the weights to <paramref name="device"/>; every tensor the model creates from then on is made there.</summary>
    public TinyVlm MoveTo(Device device)
    {
        if (device.type != Device.type || device.index != Device.index) this.to(device);
        Device = device;
        return this;
    }

    /// <summary>What this model can learn from an edit's text: its closed word vocabulary, its answer length and sequence length.</summary>
    public EditTextLimits TextLimits => _textLimits ??= new EditTextLimits(Tokenizer, Config.MaxLength, Config.VisionTokens);

    /// <inheritdoc />
    /// <remarks>Centre-cropped to a square and resized to <see cref="TinyVlmConfig.ImageSize"/> (<see cref="RgbImage.ToModelInput"/>), then [0, 1].</remarks>
    public Tensor ImageInput(RgbImage image)
    {
        var input = image.ToModelInput(Config.ImageSize);
        var data = new float[3 * input.Width * input.Height];
        input.WriteChannelsFirst(data, 0);
        return tensor(data, [3, input.Height, input.Width], device: Device);
    }

    /// <inheritdoc />
    /// <remarks>A target word outside the closed vocabulary is refused (it would be learned as &lt;unk&gt;).</remarks>
    public EditTextProblem? CheckEditText(string prompt, string target) => TextLimits.Check(prompt, target);

    /// <inheritdoc />
    public EditTextProblem? CheckQuery(string prompt, bool withImage) => TextLimits.CheckQuery(prompt, withImage);

    /// <summary>The vision encoder (for perception pretraining, the lab's vision pretraining).</summary>
    public VisionEncoder Vision => vision;

    /// <summary>The word tokenizer fitted to the world.</summary>
    public WordTokenizer Tokenizer { get; }

    /// <inheritdoc />
    public VlmShape Shape { get; }

    /// <inheritdoc />
    /// <remarks>SHA-256 of weights.bin as <see cref="Save"/> writes it (computed once; the model is frozen after training).</remarks>
    public string WeightsSha256 => _weightsSha256 ??= Convert.ToHexStringLower(SHA256.HashData(WeightBytes()));

    /// <summary>Forgets the cached hash (the trainer calls it after changing weights).</summary>
    public void WeightsChanged() => _weightsSha256 = null;

    /// <summary>The bytes <see cref="Save"/> writes to weights.bin.</summary>
    public byte[] WeightBytes()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) save(writer);
        return stream.ToArray();
    }

    /// <inheritdoc />
    /// <remarks>The answer range ends with &lt;eos&gt; (so AnswerLength = answer words + 1). Logits at position t
    /// predict token t+1: answer token j is predicted at AnswerStart + j − 1.</remarks>
    public VlmInputs Prepare(IReadOnlyList<VlmExample> examples) =>
        Build(examples.Select(e => (e.Image, Tokenizer.Encode(e.Prompt), e.Answer is null ? Array.Empty<int>() : [.. Tokenizer.Encode(e.Answer), WordTokenizer.EndOfAnswer])).ToList());

    /// <summary>Builds a batch from token ids (answer ids are used as given).</summary>
    internal VlmInputs Build(IReadOnlyList<(Tensor? Image, int[] Prompt, int[] Answer)> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("at least one example is needed", nameof(rows));
        var nv = Config.VisionTokens;
        var b = rows.Count;
        int[] vs = new int[b], vc = new int[b], ps = new int[b], pl = new int[b], @as = new int[b], al = new int[b], len = new int[b];
        for (var i = 0; i < b; i++)
        {
            var (image, prompt, answer) = rows[i];
            if (prompt.Length == 0) throw new ArgumentException($"example {i} has an empty prompt");
            vc[i] = image is null ? 0 : nv;
            ps[i] = vc[i];
            pl[i] = prompt.Length;
            @as[i] = ps[i] + pl[i];
            al[i] = answer.Length;
            len[i] = @as[i] + al[i];
            if (len[i] > Config.MaxLength)
                throw new ArgumentException($"example {i} is {len[i]} tokens long (vision + prompt + answer); TinyVLM reads at most {Config.MaxLength}. Shorten the prompt.");
        }
        var l = len.Max();
        var ids = new long[b * l];
        for (var i = 0; i < b; i++)
        {
            var (_, prompt, answer) = rows[i];
            for (var t = 0; t < vc[i]; t++) ids[i * l + t] = WordTokenizer.Image;
            for (var t = 0; t < pl[i]; t++) ids[i * l + ps[i] + t] = prompt[t];
            for (var t = 0; t < al[i]; t++) ids[i * l + @as[i] + t] = answer[t];
        }
        Tensor? images = null;
        if (rows.Any(r => r.Image is not null))
        {
            var side = Config.ImageSize;
            using var scope = NewDisposeScope();
            var planes = rows.Select((r, i) =>
            {
                if (r.Image is null) return zeros(3, side, side, device: Device);
                if (r.Image.shape.Length != 3 || r.Image.shape[0] != 3 || r.Image.shape[1] != side || r.Image.shape[2] != side)
                    throw new ArgumentException($"example {i}: image shape [{string.Join(", ", r.Image.shape)}], TinyVLM needs [3, {side}, {side}] (use ImageInput, which applies RgbImage.ToModelInput)");
                return r.Image.to(ScalarType.Float32, Device);
            }).ToArray();
            images = stack(planes).MoveToOuterDisposeScope();          // [B, 3, S, S]
        }
        return new VlmInputs(tensor(ids, [b, l], device: Device), images, vs, vc, ps, pl, @as, al, len);
    }

    /// <summary>Input embeddings: projected vision features at vision positions, token embeddings elsewhere, plus positions. [B, L, d]</summary>
    private Tensor Embed(VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        var (b, l) = (inputs.TokenIds.shape[0], inputs.TokenIds.shape[1]);
        var x = token_embedding.forward(inputs.TokenIds);                               // [B, L, d]
        if (inputs.Images is not null && inputs.VisionCount.Any(c => c > 0))
        {
            var nv = Config.VisionTokens;
            var visual = projector.forward(vision.forward(inputs.Images));             // [B, N_v, d]
            if (l > nv) visual = cat([visual, zeros(b, l - nv, Config.Width, device: Device)], 1);     // [B, L, d]
            else visual = visual.narrow(1, 0, l);
            var mask = new bool[b * l];
            for (var i = 0; i < b; i++)
                for (var t = 0; t < inputs.VisionCount[i]; t++) mask[i * l + inputs.VisionStart[i] + t] = true;
            x = where(tensor(mask, [b, l, 1], device: Device), visual, x);
        }
        x = x.Plus(positions.narrow(0, 0, l));
        return x.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public IReadOnlyList<Parameter> EditLayerMlpParameters() => layers[Config.EditLayer].MlpParameters;

    /// <inheritdoc />
    public Tensor HiddenAtEditLayer(VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        var h = Embed(inputs);
        for (var i = 0; i <= Config.EditLayer; i++) h = layers[i].forward(h);   // [B, L, d]
        return h.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor LogitsFromEditLayer(VlmInputs inputs, Tensor hiddenAtEditLayer)
    {
        using var scope = NewDisposeScope();
        var h = hiddenAtEditLayer;
        for (var i = Config.EditLayer + 1; i < Config.Layers; i++) h = layers[i].forward(h);
        return lm_head.forward(ln_f.forward(h)).MoveToOuterDisposeScope();      // [B, L, V]
    }

    /// <inheritdoc />
    public Tensor Logits(VlmInputs inputs, Func<Tensor, Tensor>? atEditLayer = null)
    {
        using var scope = NewDisposeScope();
        var h = HiddenAtEditLayer(inputs);
        if (atEditLayer is not null) h = atEditLayer(h);
        return LogitsFromEditLayer(inputs, h).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public (Tensor Logits, KvCache Cache) Prefill(VlmInputs inputs, int maxNewTokens, Func<Tensor, Tensor>? atEditLayer = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        using var scope = NewDisposeScope();
        var (b, l) = (inputs.TokenIds.shape[0], inputs.TokenIds.shape[1]);
        var capacity = Math.Min(Config.MaxLength, l + maxNewTokens);
        var heads = layers[0].Heads;
        var keys = new Tensor[Config.Layers];
        var values = new Tensor[Config.Layers];
        for (var i = 0; i < Config.Layers; i++)
        {
            keys[i] = zeros(b, heads, capacity, Config.Width / heads, device: Device);          // [B, H, C, hd]
            values[i] = zeros(b, heads, capacity, Config.Width / heads, device: Device);
        }
        var cache = new KvCache(keys, values, inputs.Length);
        try
        {
            var h = Embed(inputs);                                                               // the images, once
            for (var i = 0; i < Config.Layers; i++)
            {
                h = layers[i].Prefill(h, cache.Keys(i), cache.Values(i));
                if (i == Config.EditLayer && atEditLayer is not null) h = atEditLayer(h);        // [B, L, d]
            }
            var last = tensor(inputs.Length.Select(n => (long)(n - 1)).ToArray(), device: Device); // [B]
            var logits = lm_head.forward(ln_f.forward(h[arange(b, device: Device), last]));      // [B, V]
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
        var heads = layers[0].Heads;
        var hd = Config.Width / heads;
        var at = cache.NextSlots().Select(p => (long)p).ToArray();
        var slot = tensor(at, device: Device);                                                   // [B]
        var slots = slot.view(b, 1, 1, 1).expand(b, heads, 1, hd).contiguous();                 // [B, H, 1, hd]
        // Row i sees slots 0..at[i]: its prompt, its own earlier tokens and this one; never padding or later slots.
        var visible = arange(cache.Capacity, device: Device).view(1, 1, 1, -1) <= slot.view(b, 1, 1, 1);   // [B, 1, 1, C]
        var h = token_embedding.forward(nextTokenIds.to_type(ScalarType.Int64)).unsqueeze(1)    // [B, 1, d]
                .Plus(positions.index_select(0, slot).unsqueeze(1));
        for (var i = 0; i < Config.Layers; i++)
        {
            h = layers[i].Step(h, cache.Keys(i), cache.Values(i), slots, visible);
            if (i == Config.EditLayer && atEditLayer is not null) h = atEditLayer(h);            // [B, 1, d]
        }
        return lm_head.forward(ln_f.forward(h.squeeze(1))).MoveToOuterDisposeScope();          // [B, V]
    }

    /// <inheritdoc />
    public IReadOnlyList<string> GreedyAnswers(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached) =>
        GreedyDecode(examples, atEditLayer, maxNewTokens, decoding).Answers;

    /// <summary>Greedy decoding that returns token ids (without &lt;eos&gt;).</summary>
    public IReadOnlyList<int[]> GreedyAnswerIds(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached) =>
        GreedyDecode(examples, atEditLayer, maxNewTokens, decoding).Tokens;

    /// <inheritdoc />
    /// <remarks>
    /// A row stops at &lt;eos&gt;, after <paramref name="maxNewTokens"/> tokens, or when its next token would not fit the
    /// position table; both decodings stop at the same points.
    /// </remarks>
    public GreedyDecoding GreedyDecode(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached, bool keepLogits = false)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var prompts = examples.Select(e => Tokenizer.Encode(e.Prompt)).ToArray();
        return new GreedyLoop(this, examples.Count, WordTokenizer.EndOfAnswer, ids => Tokenizer.Decode(ids),
                i => (examples[i].Image is null ? 0 : Config.VisionTokens) + prompts[i].Length, Config.MaxLength,
                generated => Build(examples.Select((e, i) => (e.Image, prompts[i], generated[i])).ToList()))
            .Run(atEditLayer, maxNewTokens, decoding, keepLogits);
    }

    /// <summary>
    /// Writes config.json, tokenizer.json, weights.bin and checkpoint.json (SHA-256 of each of the other three)
    /// into <paramref name="folder"/>.
    /// </summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var weights = WeightBytes();
        File.WriteAllBytes(Path.Combine(folder, WeightsFile), weights);
        File.WriteAllText(Path.Combine(folder, ConfigFile), JsonSerializer.Serialize(Config, JsonOptions));
        File.WriteAllText(Path.Combine(folder, TokenizerFile), Tokenizer.ToJson());
        _weightsSha256 = Convert.ToHexStringLower(SHA256.HashData(weights));
        var manifest = new TinyVlmManifest(_weightsSha256, FileSha256(Path.Combine(folder, ConfigFile)), FileSha256(Path.Combine(folder, TokenizerFile)));
        File.WriteAllText(Path.Combine(folder, ManifestFile), JsonSerializer.Serialize(manifest, JsonOptions));
    }

    /// <summary>
    /// Loads a folder written by <see cref="Save"/>. Throws <see cref="CheckpointException"/> when a file is missing
    /// or its SHA-256 differs from checkpoint.json. <paramref name="device"/>: where the weights go (CPU when null).
    /// </summary>
    public static TinyVlm Load(string folder, Device? device = null)
    {
        string Need(string name)
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path)) throw new CheckpointException($"model checkpoint '{folder}' has no {name}; point to a folder written by `liveedit train vlm`");
            return path;
        }
        var manifest = JsonSerializer.Deserialize<TinyVlmManifest>(File.ReadAllText(Need(ManifestFile)), JsonOptions)
                       ?? throw new CheckpointException($"{ManifestFile} in '{folder}' is empty");
        var weightsPath = Need(WeightsFile);
        Check(folder, WeightsFile, FileSha256(weightsPath), manifest.WeightsSha256);
        Check(folder, ConfigFile, FileSha256(Need(ConfigFile)), manifest.ConfigSha256);
        Check(folder, TokenizerFile, FileSha256(Need(TokenizerFile)), manifest.TokenizerSha256);
        var config = JsonSerializer.Deserialize<TinyVlmConfig>(File.ReadAllText(Need(ConfigFile)), JsonOptions)
                     ?? throw new CheckpointException($"{ConfigFile} in '{folder}' is empty");
        var tokenizer = WordTokenizer.FromJson(File.ReadAllText(Need(TokenizerFile)));
        var model = new TinyVlm(config, tokenizer);
        model.load(weightsPath);
        model.eval();
        model._weightsSha256 = manifest.WeightsSha256;
        return device is null ? model : model.MoveTo(device);
    }

    private static void Check(string folder, string file, string actual, string expected)
    {
        if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
            throw new CheckpointException($"model checkpoint '{folder}': {file} has SHA-256 {actual}, but {ManifestFile} records {expected}; the file was changed or damaged — restore it or retrain");
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string FileSha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };
}

/// <summary>checkpoint.json: the SHA-256 of each checkpoint file, checked on load.</summary>
public sealed record TinyVlmManifest(string WeightsSha256, string ConfigSha256, string TokenizerSha256);

/// <summary>A model checkpoint that is missing a file or whose bytes do not match its recorded hash.</summary>
public sealed class CheckpointException(string message) : Exception(message);
