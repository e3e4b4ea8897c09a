using System.Diagnostics;
using System.Text.Json;
using LiveEdit.Model.HuggingFace;
using static TorchSharp.torch;

namespace LiveEdit.Model.Llava;

/// <summary>
/// Loads a Hugging Face LLaVA folder (docs/llava.md): <c>config.json</c>, the weights (<c>model.safetensors</c> or a
/// sharded <c>model.safetensors.index.json</c>, either key layout, F32/F16/BF16 on disk), the tokenizer files,
/// <c>preprocessor_config.json</c> and the chat template. Every file's header and the whole weight list are checked
/// before any weight is copied: the tokenizer, template and processor must fit the config (LlavaTextInputs), and a
/// checkpoint that does not fit fails with one message listing every missing, unexpected and mis-shaped tensor.
/// </summary>
public static class LlavaLoader
{
    /// <summary>
    /// The model of <paramref name="folder"/> on <paramref name="device"/> (CPU by default) in <paramref name="dtype"/>
    /// (by default float32 on the CPU, elsewhere the checkpoint's <c>torch_dtype</c> when it is float16 or bfloat16).
    /// Its <see cref="LlavaModel.WeightsSha256"/> is over the loaded tensors in the model's dtype, so the same numbers
    /// give the same hash whatever the files' dtype, sharding or key layout.
    /// </summary>
    public static LlavaModel Load(string folder, Device? device = null, ScalarType? dtype = null) => Load(folder, device, dtype, out _);

    /// <summary>As <see cref="Load(string, Device?, ScalarType?)"/>, with what binding read and ignored, and the time it took.</summary>
    public static LlavaModel Load(string folder, Device? device, ScalarType? dtype, out LlavaLoadReport report)
    {
        var clock = Stopwatch.StartNew();
        device ??= CPU;
        using var checkpoint = HuggingFaceCheckpoint.Open(folder);
        var configJson = checkpoint.ReadConfigJson();
        var config = LlavaConfig.Parse(configJson);
        var type = dtype ?? DefaultDType(configJson, device);
        var layout = new LlavaCheckpointLayout(config);
        var (tokenizer, processor, template) = LlavaTextInputs.Load(folder, config);
        var format = new LlavaPromptFormat(template.Format, template.ImageToken);

        // Every weight is overwritten below, and the binder refuses a checkpoint that lacks any: no random draw first.
        var model = LlavaModel.Allocate(config, tokenizer, processor, format, device, type);
        try
        {
            var bind = WeightBinder.Bind(model.NamedWeights(), checkpoint, layout);
            model.WeightsChanged();
            report = new LlavaLoadReport(config, type, checkpoint.Files.Select(f => Path.GetFileName(f.Path)).ToArray(), bind, clock.Elapsed);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>float32 on the CPU; elsewhere the config's <c>torch_dtype</c> (or <c>dtype</c>) when float16 or bfloat16.</summary>
    private static ScalarType DefaultDType(string configJson, Device device)
    {
        if (device.type == TorchSharp.DeviceType.CPU) return ScalarType.Float32;
        using var doc = JsonDocument.Parse(configJson);
        var root = doc.RootElement;
        var name = root.TryGetProperty("torch_dtype", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
            : root.TryGetProperty("dtype", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        return name switch
        {
            "float16" => ScalarType.Float16,
            "bfloat16" => ScalarType.BFloat16,
            _ => ScalarType.Float32,
        };
    }
}

/// <summary>What a load did.</summary>
/// <param name="Config">The parsed config.</param>
/// <param name="DType">The model's dtype.</param>
/// <param name="Files">The weight files read.</param>
/// <param name="Bind">Tensors bound, bytes read, keys ignored by design.</param>
/// <param name="Elapsed">Wall time of the whole load.</param>
public sealed record LlavaLoadReport(LlavaConfig Config, ScalarType DType, IReadOnlyList<string> Files, BindReport Bind, TimeSpan Elapsed);
