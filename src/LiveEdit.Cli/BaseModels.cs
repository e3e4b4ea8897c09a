using LiveEdit.Model.Vlm;

namespace LiveEdit.Cli;

/// <summary>How a command that takes a base model folder loads it: of any kind, on the configured device.</summary>
internal static class BaseModels
{
    /// <summary>
    /// Loads <paramref name="folder"/> as <paramref name="kind"/>, else as <c>Model__Kind</c>, else as the kind the
    /// folder holds; on <c>Model__Device</c> in <c>Model__DType</c> (cpu, float32 when unset).
    /// </summary>
    /// <exception cref="ModelConfigurationException">A setting or the folder does not fit.</exception>
    public static IVisionLanguageModel Load(string folder, string? kind = null)
    {
        var chosen = kind ?? Environment.GetEnvironmentVariable(VlmLoader.KindSetting) ?? VlmLoader.DetectKind(folder);
        return VlmLoader.Load(chosen, folder, Environment.GetEnvironmentVariable(VlmLoader.DeviceSetting), Environment.GetEnvironmentVariable(VlmLoader.DTypeSetting));
    }
}
