using LiveEdit.Model.Vlm;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>How a re-generated expert compares with the recorded one (docs/model-plugins.md, "Determinism per device").</summary>
public enum Reproduction
{
    /// <summary>The same bytes (the same SHA-256).</summary>
    Identical,

    /// <summary>
    /// Not the same bytes, but one side was made on an accelerator, where kernels do not promise a summation order, and
    /// every factor agrees within that side's tolerance; same base model, generator and sizes.
    /// </summary>
    WithinTolerance,

    /// <summary>Neither: the recorded expert is not what its edit makes.</summary>
    Different,
}

/// <summary>
/// The determinism promise per device, as <c>verify --experts</c> applies it. On the CPU (float32, fixed thread count) an
/// expert is a pure function of the weights and the edit: byte for byte, compared by SHA-256. On a GPU, or in half
/// precision, the same edit gives factors that agree only approximately; an expert made there records its device after
/// the worker's id (<see cref="DeviceTag"/>), and a comparison where either side ran there accepts factors within a
/// relative tolerance (<see cref="Tolerance"/>) — never a different base model, generator or size.
/// </summary>
public static class ExpertReproduction
{
    /// <summary>Separates the worker's id from the device it generated on in a recorded worker id.</summary>
    public const char DeviceSeparator = '@';

    /// <summary>
    /// What a worker appends to its id when it generates away from the byte-exact setting: null on the CPU in float32,
    /// else <c>cuda:0/float16</c> and the like.
    /// </summary>
    public static string? DeviceTag(IVisionLanguageModel model) =>
        model.Device.type == DeviceType.CPU && model.DType == ScalarType.Float32
            ? null
            : $"{VlmLoader.DeviceName(model.Device)}/{VlmLoader.DTypeName(model.DType)}";

    /// <summary>The worker id to record: <paramref name="workerId"/>, then <c>@</c> and the device tag when there is one.</summary>
    public static string RecordedWorkerId(string workerId, IVisionLanguageModel model) =>
        DeviceTag(model) is { } tag ? $"{workerId}{DeviceSeparator}{tag}" : workerId;

    /// <summary>
    /// The device tag a recorded worker id carries (null: made on the CPU in float32). Only a tag of the form
    /// <see cref="DeviceTag"/> writes counts; any other text after an <c>@</c> is part of the worker's own name.
    /// </summary>
    public static string? DeviceTagOf(string? recordedWorkerId)
    {
        if (recordedWorkerId is null) return null;
        var at = recordedWorkerId.LastIndexOf(DeviceSeparator);
        if (at < 0) return null;
        var tag = recordedWorkerId[(at + 1)..];
        var slash = tag.IndexOf('/');
        if (slash < 0) return null;
        var (device, dtype) = (tag[..slash], tag[(slash + 1)..]);
        var knownDevice = device == "cpu" || (device.StartsWith("cuda:", StringComparison.Ordinal) && device.Length > 5 && device[5..].All(char.IsAsciiDigit));
        return knownDevice && dtype is "float32" or "float16" or "bfloat16" && !(device == "cpu" && dtype == "float32") ? tag : null;
    }

    /// <summary>
    /// Largest accepted |recorded − regenerated| per factor element, relative to the factor's largest magnitude:
    /// 0 on the CPU in float32 (bytes must match), 1e-3 for float32 on an accelerator, 3e-2 when either side ran in
    /// float16 or bfloat16 (their 8- and 11-bit mantissas).
    /// </summary>
    public static double Tolerance(string? recordedTag, string? verifyingTag)
    {
        if (recordedTag is null && verifyingTag is null) return 0;
        static bool Half(string? tag) => tag is not null && (tag.EndsWith("/float16", StringComparison.Ordinal) || tag.EndsWith("/bfloat16", StringComparison.Ordinal));
        return Half(recordedTag) || Half(verifyingTag) ? 3e-2 : 1e-3;
    }

    /// <summary>Compares a recorded expert with its re-generation under the promise of the devices that made them.</summary>
    /// <param name="recordedTag">The device tag of the worker that recorded it (<see cref="DeviceTagOf"/>).</param>
    /// <param name="verifyingTag">The device tag of the model that re-generated it (<see cref="DeviceTag"/>).</param>
    public static Reproduction Compare(Expert recorded, Expert regenerated, string? recordedTag, string? verifyingTag)
    {
        if (string.Equals(recorded.Sha256, regenerated.Sha256, StringComparison.Ordinal)) return Reproduction.Identical;
        var tolerance = Tolerance(recordedTag, verifyingTag);
        if (tolerance == 0) return Reproduction.Different;
        if (recorded.BaseSha256 != regenerated.BaseSha256 || recorded.GeneratorSha256 != regenerated.GeneratorSha256
            || recorded.HiddenSize != regenerated.HiddenSize || recorded.Rank != regenerated.Rank
            || recorded.KeyRows != regenerated.KeyRows || recorded.ModuleDim != regenerated.ModuleDim)
            return Reproduction.Different;
        return Close(recorded.U, regenerated.U, tolerance) && Close(recorded.V, regenerated.V, tolerance)
               && Close(recorded.VisualKey, regenerated.VisualKey, tolerance) && Close(recorded.TextKey, regenerated.TextKey, tolerance)
            ? Reproduction.WithinTolerance
            : Reproduction.Different;
    }

    private static bool Close(ReadOnlySpan<float> recorded, ReadOnlySpan<float> regenerated, double tolerance)
    {
        if (recorded.Length != regenerated.Length) return false;
        double scale = 0;
        foreach (var x in regenerated) scale = Math.Max(scale, Math.Abs((double)x));
        var bound = tolerance * Math.Max(scale, 1e-12);
        for (var i = 0; i < recorded.Length; i++)
        {
            var d = Math.Abs((double)recorded[i] - regenerated[i]);
            if (!(d <= bound)) return false;   // NaN is never close
        }
        return true;
    }
}
