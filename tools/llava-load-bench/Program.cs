using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LiveEdit.Model.Editor;
using LiveEdit.Model.HuggingFace;
using LiveEdit.Model.Images;
using LiveEdit.Model.Llava;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing.Llava;
using static TorchSharp.torch;

// write-tiny FOLDER [F32|F16|BF16]   a tiny checkpoint (TinyLlavaCheckpoint)
// write-7b-widths FOLDER [SHARDS]    LLaVA-1.5-7B's widths, one layer per tower, random float16, in SHARDS files
// load FOLDER [float32|float16|bfloat16]   load it once; print time, resident memory before, peak and after
// decode FOLDER [float32|float16|bfloat16] [EXPERTS] [TOKENS] [REPEATS] [THREADS]   expert generation time, and per-token latency of
//        KV-cache decoding with 0 and EXPERTS active experts (hard filter on, and off so that every expert fires); medians
//        over REPEATS rounds after one warm-up round
var args_ = Environment.GetCommandLineArgs().Skip(1).ToArray();
if (args_.Length < 2) return Usage();
var folder = args_[1];
switch (args_[0])
{
    case "write-tiny":
        var dtype = args_.Length > 2 ? Enum.Parse<TinyDType>(args_[2]) : TinyDType.F16;
        TinyLlavaCheckpoint.Write(folder, new TinyLlavaOptions(DType: dtype));
        Console.WriteLine($"wrote {folder}");
        return 0;
    case "write-7b-widths":
        Write7bWidths(folder, args_.Length > 2 ? int.Parse(args_[2], CultureInfo.InvariantCulture) : 2);
        return 0;
    case "load":
        var type = args_.Length > 2 ? ParseType(args_[2]) : ScalarType.Float32;
        Load(folder, type);
        return 0;
    case "decode":
        var decodeType = args_.Length > 2 ? ParseType(args_[2]) : ScalarType.Float32;
        Decode(folder, decodeType,
            args_.Length > 3 ? int.Parse(args_[3], CultureInfo.InvariantCulture) : 1000,
            args_.Length > 4 ? int.Parse(args_[4], CultureInfo.InvariantCulture) : 16,
            args_.Length > 5 ? int.Parse(args_[5], CultureInfo.InvariantCulture) : 5,
            args_.Length > 6 ? int.Parse(args_[6], CultureInfo.InvariantCulture) : 0);
        return 0;
    default:
        return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: write-tiny FOLDER [F32|F16|BF16] | write-7b-widths FOLDER [SHARDS] | load FOLDER [float32|float16|bfloat16]"
        + " | decode FOLDER [float32|float16|bfloat16] [EXPERTS] [TOKENS] [REPEATS] [THREADS]");
    return 2;
}

static ScalarType ParseType(string name) => name switch
{
    "float16" => ScalarType.Float16,
    "bfloat16" => ScalarType.BFloat16,
    "float32" => ScalarType.Float32,
    _ => throw new ArgumentException($"dtype '{name}': float32, float16 or bfloat16"),
};

static void Decode(string folder, ScalarType type, int expertCount, int tokens, int repeats, int threads)
{
    if (threads > 0) set_num_threads(threads);
    var loadClock = Stopwatch.StartNew();
    using var model = LlavaLoader.Load(folder, null, type);
    var loadSeconds = loadClock.Elapsed.TotalSeconds;
    // The editor's sizes come from the model's shape (d_m = min(d, 1024), r = 4); its weights are random: this measures
    // time, which does not depend on what the editor has learnt.
    manual_seed(1);
    using var editor = new EditorModules(EditorConfig.For(model.Shape, new EditorHyperParameters())).Freeze();
    var generator = new ExpertGenerator(model, editor);
    RgbImage Photo(int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[64 * 48 * 3];
        random.NextBytes(bytes);
        return new RgbImage(64, 48, bytes);
    }

    // Expert generation: one edit (an image, a prompt, a target) → one expert, as a worker makes it; after one warm-up.
    var generation = new List<double>();
    var real = new List<Expert>();
    for (var i = 0; i < repeats + 1; i++)
    {
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        var expert = generator.Generate(new VlmExample(model.ImageInput(Photo(i)), "what is this?", "a cat"));
        if (i > 0) generation.Add(clock.Elapsed.TotalMilliseconds);
        real.Add(expert);
    }

    // EXPERTS active experts: the generated ones, then copies of them with noise on every factor and key (the time of
    // routing and fusion depends on how many there are and how many survive the filter, not on what they say).
    var noise = new Random(2);
    float[] Jitter(float[] values) => values.Select(v => v + (float)(noise.NextDouble() - 0.5) * 0.02f).ToArray();
    var experts = Enumerable.Range(0, expertCount).Select(i =>
    {
        var e = real[i % real.Count];
        return i < real.Count ? e : new Expert(e.HiddenSize, e.Rank, e.KeyRows, e.ModuleDim, Jitter(e.U.ToArray()), Jitter(e.V.ToArray()),
            Jitter(e.VisualKey.ToArray()), Jitter(e.TextKey.ToArray()), e.BaseSha256, e.GeneratorSha256);
    }).ToList();

    // One image query of a photo no edit is about, and one of the first edit's photo; greedy, KV cache, up to TOKENS new
    // tokens. The model is wrapped so that every call of the edit-layer rewrite is timed: the first is the prefill, each
    // later one a decoding step, so the time between two calls is one token's (the layers, the LM head, the choice).
    var timed = new TimedModel(model);
    VlmExample[] queries = [new(model.ImageInput(Photo(100)), "what is this?"), new(model.ImageInput(Photo(0)), "what is this?")];
    object Measure(EditedModel edited, string what)
    {
        var (answers, perToken) = (new List<double>(), new List<double>());
        var (steps, fired) = (0, 0);
        for (var r = 0; r < repeats + 1; r++)
        {
            foreach (var q in queries)
            {
                using var scope = NewDisposeScope();
                timed.Calls.Clear();
                var clock = Stopwatch.StartNew();
                var answer = edited.Answer([q], tokens);
                var answerMs = clock.Elapsed.TotalMilliseconds;
                if (r == 0) continue;
                var calls = timed.Calls;
                steps = Math.Max(steps, calls.Count - 1);
                fired = Math.Max(fired, answer[0].Experts.Count);
                answers.Add(answerMs);
                for (var i = 2; i < calls.Count; i++) perToken.Add(calls[i] - calls[i - 1]);
            }
        }
        return new
        {
            what,
            experts = edited.Count,
            mostFired = fired,
            decodingSteps = steps,
            answerMs = Median(answers),
            perTokenMs = Median(perToken),
        };
    }

    var results = new List<object>();
    using (var none = new EditedModel(timed, editor)) results.Add(Measure(none, "no experts"));
    using (var filtered = new EditedModel(timed, editor))
    {
        for (var i = 0; i < experts.Count; i++) filtered.Add($"e{i}", experts[i], i);
        results.Add(Measure(filtered, "hard filter on"));
    }
    using (var all = new EditedModel(timed, editor, new RoutingOptions(HardFilter: false)))
    {
        for (var i = 0; i < experts.Count; i++) all.Add($"e{i}", experts[i], i);
        results.Add(Measure(all, "hard filter off: every expert fires"));
    }
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        folder,
        dtype = type.ToString(),
        threads = get_num_threads(),
        repeats,
        shape = model.Shape,
        editor = editor.Config,
        editorParameters = editor.parameters().Sum(p => p.numel()),
        loadSeconds,
        expertGenerationMs = Median(generation),
        decoding = results,
    }, new JsonSerializerOptions { WriteIndented = true }));
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

static void Write7bWidths(string folder, int shards)
{
    // llava-hf/llava-1.5-7b-hf's config with num_hidden_layers 1 in both towers, and the tiny tokenizer.
    Directory.CreateDirectory(folder);
    var config = new JsonObject
    {
        ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
        // The tiny tokenizer's <image> and <pad> ids (llava-1.5's are 32000 and 32001 in its 32002-id tokenizer).
        ["image_token_index"] = TinyTokenizerFiles.LlamaImageTokenId,
        ["model_type"] = "llava",
        ["pad_token_id"] = TinyTokenizerFiles.LlamaPadTokenId,
        ["projector_hidden_act"] = "gelu",
        ["text_config"] = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["max_position_embeddings"] = 4096,
            ["model_type"] = "llama",
            ["num_hidden_layers"] = 1,
            ["rms_norm_eps"] = 1e-05,
            ["torch_dtype"] = "float16",
            ["vocab_size"] = 32064,
        },
        ["tie_word_embeddings"] = false,
        ["torch_dtype"] = "float16",
        ["vision_config"] = new JsonObject
        {
            ["hidden_size"] = 1024,
            ["image_size"] = 336,
            ["intermediate_size"] = 4096,
            ["model_type"] = "clip_vision_model",
            ["num_attention_heads"] = 16,
            ["num_hidden_layers"] = 1,
            ["patch_size"] = 14,
            ["projection_dim"] = 768,
        },
        ["vision_feature_layer"] = -2,
        ["vision_feature_select_strategy"] = "default",
        ["vocab_size"] = 32064,
    };
    var json = config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    File.WriteAllText(Path.Combine(folder, "config.json"), json);
    var tiny = Path.Combine(folder, "tiny-tmp");
    TinyLlavaCheckpoint.Write(tiny, new TinyLlavaOptions());
    foreach (var f in new[] { "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "chat_template.json" })
        if (File.Exists(Path.Combine(tiny, f))) File.Copy(Path.Combine(tiny, f), Path.Combine(folder, f), overwrite: true);
    Directory.Delete(tiny, recursive: true);
    File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), TinyLlavaCheckpoint.PreprocessorJson(TinyLlavaFamily.Llava15)
        .Replace("28", "336", StringComparison.Ordinal));

    var expected = LlavaCheckpointLayout.Expected(LlavaConfig.Parse(json));
    var total = expected.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
    Console.WriteLine($"{expected.Count} tensors, {total:N0} parameters, {total * 2 / 1e9:F2} GB in float16");
    var perShard = (total + shards - 1) / shards;
    var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
    var generator = new Generator(7);
    var index = 0;
    for (var s = 0; s < shards; s++)
    {
        var name = shards == 1 ? HuggingFaceCheckpoint.SingleFile : $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
        var list = new List<(string, Tensor)>();
        long size = 0;
        using var scope = NewDisposeScope();
        while (index < expected.Count && (size < perShard || s == shards - 1))
        {
            var (n, shape) = expected[index++];
            list.Add((n, (randn(shape, generator: generator) * 0.02).to_type(ScalarType.Float16)));
            size += shape.Aggregate(1L, (a, b) => a * b);
            map[n] = name;
        }
        SafetensorsWriter.Write(Path.Combine(folder, name), list, new Dictionary<string, string> { ["format"] = "pt" });
    }
    if (shards > 1)
    {
        var idx = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = total * 2 },
            ["weight_map"] = new JsonObject(map.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))),
        };
        File.WriteAllText(Path.Combine(folder, HuggingFaceCheckpoint.IndexFile), idx.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
    Console.WriteLine($"wrote {folder} in {shards} file(s)");
}

static void Load(string folder, ScalarType type)
{
    // Touch libtorch first so the baseline includes the runtime and the native library, not the model.
    using (var warm = zeros(1)) { }
    var before = Status("VmRSS");
    var clock = Stopwatch.StartNew();
    using var model = LlavaLoader.Load(folder, null, type, out var report);
    var seconds = clock.Elapsed.TotalSeconds;
    var weights = model.NamedWeights().Sum(w => w.Tensor.numel() * w.Tensor.ElementSize);
    var hashClock = Stopwatch.StartNew();
    var sha = model.WeightsSha256;
    var hashSeconds = hashClock.Elapsed.TotalSeconds;
    var peak = Status("VmHWM");
    var after = Status("VmRSS");
    var files = report.Files.Sum(f => new FileInfo(Path.Combine(folder, f)).Length);
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        folder,
        dtype = type.ToString(),
        parameters = model.NamedWeights().Sum(w => w.Tensor.numel()),
        filesMiB = files / 1048576.0,
        weightsMiB = weights / 1048576.0,
        loadSeconds = seconds,
        hashSeconds,
        rssBeforeMiB = before / 1024.0,
        rssPeakMiB = peak / 1024.0,
        rssAfterMiB = after / 1024.0,
        peakOverWeights = (peak - before) * 1024.0 / weights,
        sha,
    }));
}

static long Status(string field)
{
    foreach (var line in File.ReadLines("/proc/self/status"))
        if (line.StartsWith(field + ":", StringComparison.Ordinal))
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    return -1;
}

/// <summary>The model, with the time of every call of the edit-layer rewrite in greedy decoding recorded (ms since start).</summary>
internal sealed class TimedModel(IVisionLanguageModel inner) : IVisionLanguageModel
{
    private readonly Stopwatch clock = Stopwatch.StartNew();

    public List<double> Calls { get; } = [];

    public string Kind => inner.Kind;
    public Device Device => inner.Device;
    public ScalarType DType => inner.DType;
    public VlmShape Shape => inner.Shape;
    public string WeightsSha256 => inner.WeightsSha256;
    public Tensor ImageInput(RgbImage image) => inner.ImageInput(image);
    public EditTextProblem? CheckEditText(string prompt, string target) => inner.CheckEditText(prompt, target);
    public EditTextProblem? CheckQuery(string prompt, bool withImage) => inner.CheckQuery(prompt, withImage);
    public VlmInputs Prepare(IReadOnlyList<VlmExample> examples) => inner.Prepare(examples);
    public Tensor HiddenAtEditLayer(VlmInputs inputs) => inner.HiddenAtEditLayer(inputs);
    public Tensor LogitsFromEditLayer(VlmInputs inputs, Tensor hiddenAtEditLayer) => inner.LogitsFromEditLayer(inputs, hiddenAtEditLayer);
    public Tensor Logits(VlmInputs inputs, Func<Tensor, Tensor>? atEditLayer = null) => inner.Logits(inputs, atEditLayer);
    public (Tensor Logits, KvCache Cache) Prefill(VlmInputs inputs, int maxNewTokens, Func<Tensor, Tensor>? atEditLayer = null) => inner.Prefill(inputs, maxNewTokens, atEditLayer);
    public Tensor Step(KvCache cache, Tensor nextTokenIds, Func<Tensor, Tensor>? atEditLayer = null) => inner.Step(cache, nextTokenIds, atEditLayer);

    public IReadOnlyList<string> GreedyAnswers(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached) => GreedyDecode(examples, atEditLayer, maxNewTokens, decoding).Answers;

    public GreedyDecoding GreedyDecode(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached, bool keepLogits = false) =>
        inner.GreedyDecode(examples, h =>
        {
            Calls.Add(clock.Elapsed.TotalMilliseconds);
            return atEditLayer is null ? h.alias() : atEditLayer(h);
        }, maxNewTokens, decoding, keepLogits);
}
