using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// Chooses the base model's implementation by configuration: <c>Model__Kind</c> names a registered kind,
/// <c>Model__BaseFolder</c> its checkpoint folder, <c>Model__Device</c> where the weights live (<c>cpu</c>, <c>cuda</c>,
/// <c>cuda:N</c>) and <c>Model__DType</c> their element type (<c>float32</c>, <c>float16</c>, <c>bfloat16</c>). Every
/// setting is checked before any weight is read; a bad one stops the load with a <see cref="ModelConfigurationException"/>
/// that names it. The hosts, workers and command line load their base model here and see only
/// <see cref="IVisionLanguageModel"/> (docs/model-plugins.md).
/// </summary>
public static class VlmLoader
{
    /// <summary>The kind used when <c>Model__Kind</c> is not set.</summary>
    public const string DefaultKind = TinyVlm.KindName;

    /// <summary>Setting names as environment variables, as every message gives them.</summary>
    public const string KindSetting = "Model__Kind", FolderSetting = "Model__BaseFolder", DeviceSetting = "Model__Device", DTypeSetting = "Model__DType";

    private static readonly Dictionary<string, VlmKind> Kinds = new(StringComparer.OrdinalIgnoreCase);

    static VlmLoader()
    {
        Register(new VlmKind(TinyVlm.KindName,
            (folder, device, dtype) => dtype == ScalarType.Float32
                ? TinyVlm.Load(folder, device)
                : throw new ModelConfigurationException(DTypeSetting, $"{DTypeSetting}={DTypeName(dtype)}: TinyVlm runs in float32 only"),
            TinyVlmFolderProblem));
        Register(new VlmKind("Llava", (folder, device, dtype) => Llava.LlavaLoader.Load(folder, device, dtype), LlavaFolderProblem));
    }

    /// <summary>The registered kinds, in registration order.</summary>
    public static IReadOnlyList<string> KnownKinds => [.. Kinds.Values.Select(k => k.Name)];

    /// <summary>Adds (or replaces) a model kind.</summary>
    public static void Register(VlmKind kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        lock (Kinds) Kinds[kind.Name] = kind;
    }

    /// <summary>
    /// Loads the base model <paramref name="kind"/> from <paramref name="folder"/> onto <paramref name="device"/> in
    /// <paramref name="dtype"/> (the settings' text, as configuration gives it; null means the default).
    /// </summary>
    /// <exception cref="ModelConfigurationException">An unknown kind, device or dtype, or a folder that is not a checkpoint of that kind.</exception>
    /// <exception cref="CheckpointException">The folder is of that kind but a file is damaged (the kind's own loader says which).</exception>
    public static IVisionLanguageModel Load(string? kind, string folder, string? device = null, string? dtype = null)
    {
        var (registration, parsedDevice, parsedType) = Check(kind, device, dtype);
        if (!Directory.Exists(folder))
            throw new ModelConfigurationException(FolderSetting, $"{FolderSetting}='{folder}' does not exist; point it to a {registration.Name} checkpoint folder");
        if (registration.FolderProblem(folder) is { } problem)
            throw new ModelConfigurationException(FolderSetting, $"{FolderSetting}='{folder}' is not a {registration.Name} checkpoint ({KindSetting}={registration.Name}): {problem}");
        return registration.Load(folder, parsedDevice, parsedType);
    }

    /// <summary>
    /// The kind of checkpoint <paramref name="folder"/> holds: the one registered kind that recognises it.
    /// </summary>
    /// <exception cref="ModelConfigurationException">No kind (or more than one) recognises the folder; the message says what each kind missed.</exception>
    public static string DetectKind(string folder)
    {
        if (!Directory.Exists(folder))
            throw new ModelConfigurationException(FolderSetting, $"{FolderSetting}='{folder}' does not exist");
        VlmKind[] kinds;
        lock (Kinds) kinds = [.. Kinds.Values];
        var problems = kinds.Select(k => (k.Name, Problem: k.FolderProblem(folder))).ToList();
        var matches = problems.Where(p => p.Problem is null).Select(p => p.Name).ToList();
        return matches.Count == 1
            ? matches[0]
            : throw new ModelConfigurationException(KindSetting, matches.Count == 0
                ? $"'{folder}' is no checkpoint of a known kind ({string.Join("; ", problems.Select(p => $"{p.Name}: {p.Problem}"))}); set {KindSetting}"
                : $"'{folder}' could be {string.Join(" or ", matches)}; set {KindSetting}");
    }

    /// <summary>Checks the kind, device and dtype settings without reading any file (a host calls it at start).</summary>
    /// <exception cref="ModelConfigurationException">One of them is not valid; the message names it.</exception>
    public static (VlmKind Kind, Device Device, ScalarType DType) Check(string? kind, string? device, string? dtype)
    {
        var name = string.IsNullOrWhiteSpace(kind) ? DefaultKind : kind.Trim();
        VlmKind? registration;
        lock (Kinds) Kinds.TryGetValue(name, out registration);
        if (registration is null)
            throw new ModelConfigurationException(KindSetting, $"{KindSetting}='{Text.Printable.Excerpt(name, 60)}' is not a model kind this build knows; known: {string.Join(", ", KnownKinds)}");
        return (registration, ParseDevice(device), ParseDType(dtype));
    }

    /// <summary><c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>; CUDA only where this build's libtorch has it and the device exists.</summary>
    /// <exception cref="ModelConfigurationException">Another text, or a CUDA device that is not there.</exception>
    public static Device ParseDevice(string? text)
    {
        var value = string.IsNullOrWhiteSpace(text) ? "cpu" : text.Trim().ToLowerInvariant();
        if (value == "cpu") return CPU;
        int index = 0;
        var isCuda = value == "cuda" || (value.StartsWith("cuda:", StringComparison.Ordinal) && value.Length > 5 && value.Length <= 7
                                         && value[5..].All(char.IsAsciiDigit) && int.TryParse(value[5..], out index));
        if (!isCuda)
            throw new ModelConfigurationException(DeviceSetting, $"{DeviceSetting}='{Text.Printable.Excerpt(text!, 40)}' is not a device; use cpu, cuda or cuda:N");
        if (!cuda.is_available())
            throw new ModelConfigurationException(DeviceSetting,
                $"{DeviceSetting}={value}: no CUDA device is available to this process (this build uses the CPU libtorch unless built with -p:TorchDevice=cuda; docs/model-plugins.md)");
        if (index >= cuda.device_count())
            throw new ModelConfigurationException(DeviceSetting, $"{DeviceSetting}={value}: this machine has {cuda.device_count()} CUDA device(s)");
        return new Device(DeviceType.CUDA, index);
    }

    /// <summary><c>float32</c> (default), <c>float16</c> or <c>bfloat16</c>.</summary>
    /// <exception cref="ModelConfigurationException">Another text.</exception>
    public static ScalarType ParseDType(string? text) =>
        (string.IsNullOrWhiteSpace(text) ? "float32" : text.Trim().ToLowerInvariant()) switch
        {
            "float32" => ScalarType.Float32,
            "float16" => ScalarType.Float16,
            "bfloat16" => ScalarType.BFloat16,
            _ => throw new ModelConfigurationException(DTypeSetting, $"{DTypeSetting}='{Text.Printable.Excerpt(text!, 40)}' is not a dtype; use float32, float16 or bfloat16"),
        };

    /// <summary>The setting's spelling of <paramref name="dtype"/>.</summary>
    public static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => dtype.ToString().ToLowerInvariant(),
    };

    /// <summary>The setting's spelling of <paramref name="device"/> (<c>cpu</c>, <c>cuda:0</c>).</summary>
    public static string DeviceName(Device device) => device.type == DeviceType.CPU ? "cpu" : $"{device.type.ToString().ToLowerInvariant()}:{Math.Max(0, device.index)}";

    /// <summary>Why <paramref name="folder"/> is not a TinyVLM checkpoint, or null when it is one.</summary>
    private static string? TinyVlmFolderProblem(string folder)
    {
        var missing = new[] { TinyVlm.ManifestFile, TinyVlm.ConfigFile, TinyVlm.TokenizerFile, TinyVlm.WeightsFile }
            .Where(f => !File.Exists(Path.Combine(folder, f))).ToList();
        if (missing.Count == 0) return null;
        return HuggingFaceModelType(folder) is { } type
            ? $"it holds a Hugging Face checkpoint (model_type '{Text.Printable.Excerpt(type, 40)}'); set {KindSetting} to its kind"
            : $"it has no {string.Join(", ", missing)} (a folder written by `liveedit train vlm`)";
    }

    /// <summary>Why <paramref name="folder"/> is not a Hugging Face LLaVA checkpoint, or null when it looks like one.</summary>
    public static string? LlavaFolderProblem(string folder)
    {
        if (File.Exists(Path.Combine(folder, TinyVlm.ManifestFile)) && File.Exists(Path.Combine(folder, TinyVlm.WeightsFile)))
            return $"it holds a TinyVlm checkpoint; set {KindSetting}={TinyVlm.KindName}";
        var type = HuggingFaceModelType(folder);
        if (type is null) return "it has no config.json with a model_type (a Hugging Face model folder)";
        if (!type.StartsWith("llava", StringComparison.OrdinalIgnoreCase)) return $"its config.json says model_type '{Text.Printable.Excerpt(type, 40)}', not llava";
        if (!Directory.EnumerateFiles(folder, "*.safetensors").Any()) return "it has no .safetensors weights";
        return null;
    }

    /// <summary>The <c>model_type</c> of a folder's config.json, or null when there is none.</summary>
    private static string? HuggingFaceModelType(string folder)
    {
        var path = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) return null;
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(path));
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("model_type", out var type) && type.ValueKind == JsonValueKind.String
                ? type.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A model kind <see cref="VlmLoader"/> can load.</summary>
/// <param name="Name">The value of <c>Model__Kind</c> that chooses it (compared without case).</param>
/// <param name="Load">Loads a checkpoint folder onto a device in a dtype.</param>
/// <param name="FolderProblem">Why a folder is not a checkpoint of this kind (null when it is), checked before <paramref name="Load"/>.</param>
public sealed record VlmKind(string Name, Func<string, Device, ScalarType, IVisionLanguageModel> Load, Func<string, string?> FolderProblem);

/// <summary>A model setting that cannot be used; <see cref="Setting"/> names it as an environment variable.</summary>
public sealed class ModelConfigurationException(string setting, string message) : InvalidOperationException(message)
{
    /// <summary>The setting at fault, e.g. <c>Model__Device</c>.</summary>
    public string Setting { get; } = setting;
}
