using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LiveEdit.Model.HuggingFace;
using LiveEdit.Model.Llava;
using LiveEdit.Testing.Llava;
using static TorchSharp.torch;

// write-tiny FOLDER [F32|F16|BF16]   a tiny checkpoint (TinyLlavaCheckpoint)
// write-7b-widths FOLDER [SHARDS]    LLaVA-1.5-7B's widths, one layer per tower, random float16, in SHARDS files
// load FOLDER [float32|float16|bfloat16]   load it once; print time, resident memory before, peak and after
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
        var type = args_.Length > 2 ? args_[2] switch
        {
            "float16" => ScalarType.Float16,
            "bfloat16" => ScalarType.BFloat16,
            _ => ScalarType.Float32,
        } : ScalarType.Float32;
        Load(folder, type);
        return 0;
    default:
        return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: write-tiny FOLDER [F32|F16|BF16] | write-7b-widths FOLDER [SHARDS] | load FOLDER [float32|float16|bfloat16]");
    return 2;
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
