using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.HuggingFace;

/// <summary>How a family of checkpoints names its tensors, relative to a model's canonical names.</summary>
public interface ICheckpointLayout
{
    /// <summary>The canonical name of a key as the files spell it (the key itself when it already is one).</summary>
    string Canonical(string fileKey);

    /// <summary>
    /// Why a canonical name that real checkpoints carry is not bound (a pooling head the model does not run, a buffer
    /// older versions saved); null when the name is not ignored by design.
    /// </summary>
    string? IgnoredBecause(string canonicalName);
}

/// <summary>What binding read and what it left aside.</summary>
/// <param name="Bound">Tensors copied into the model.</param>
/// <param name="BytesRead">Bytes read from the files.</param>
/// <param name="Ignored">Keys in the files left aside by design, each with its reason.</param>
public sealed record BindReport(int Bound, long BytesRead, IReadOnlyList<(string FileKey, string Reason)> Ignored);

/// <summary>
/// A checkpoint that does not fit the model: every missing, unexpected and mis-shaped tensor at once. Nothing was
/// copied into the model when it is thrown.
/// </summary>
public sealed class WeightMismatchException : IOException
{
    /// <summary>The lists, and a message that names every entry.</summary>
    public WeightMismatchException(string folder, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<string> misshaped, IReadOnlyList<string> other)
        : base(Describe(folder, missing, unexpected, misshaped, other))
    {
        Missing = missing;
        Unexpected = unexpected;
        Misshaped = misshaped;
        Other = other;
    }

    /// <summary>Canonical names the model has and the files lack.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Keys in the files (as spelled there) that the model does not have and that are not ignored by design.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>"name: file [..] model [..]" for each tensor whose shape differs.</summary>
    public IReadOnlyList<string> Misshaped { get; }

    /// <summary>Other faults: a non-float dtype, two keys naming one canonical tensor.</summary>
    public IReadOnlyList<string> Other { get; }

    private static string Describe(string folder, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected,
        IReadOnlyList<string> misshaped, IReadOnlyList<string> other)
    {
        var parts = new List<string> { $"{folder}: the checkpoint does not fit the model; nothing was loaded." };
        void Add(string title, IReadOnlyList<string> items)
        {
            if (items.Count > 0) parts.Add($"{title} ({items.Count}):\n  " + string.Join("\n  ", items));
        }
        Add("missing", missing);
        Add("unexpected", unexpected);
        Add("mis-shaped", misshaped);
        Add("other", other);
        return string.Join("\n", parts);
    }
}

/// <summary>
/// Binds a checkpoint's tensors to a model's named weights: first checks the whole checkpoint against the model (every
/// missing, unexpected and mis-shaped tensor listed in one <see cref="WeightMismatchException"/>, before anything is
/// copied), then reads each tensor from its file: straight into the model's tensor when that is a contiguous CPU tensor
/// of the stored dtype, otherwise into a CPU staging tensor copied into the model's, converting dtype and device. At
/// most one staging tensor is alive at a time, so loading holds the model plus at most its largest tensor
/// (docs/llava.md).
/// </summary>
public static class WeightBinder
{
    /// <summary>Checks and copies; throws <see cref="WeightMismatchException"/> with every fault when they do not fit.</summary>
    public static BindReport Bind(IReadOnlyList<(string Name, Tensor Tensor)> targets, HuggingFaceCheckpoint checkpoint, ICheckpointLayout layout)
    {
        var plan = Plan(targets, checkpoint, layout);
        long bytes = 0;
        using (no_grad())
        {
            foreach (var (target, file, info) in plan.Copies)
            {
                if (target.device_type == TorchSharp.DeviceType.CPU && target.dtype == info.DType && target.is_contiguous())
                {
                    file.ReadInto(info, target);
                }
                else
                {
                    using var scope = NewDisposeScope();
                    var staging = file.Read(info);
                    target.copy_(staging);
                }
                bytes += info.ByteLength;
            }
        }
        return new BindReport(plan.Copies.Count, bytes, plan.Ignored);
    }

    /// <summary>The check alone: throws as <see cref="Bind"/> would, copies nothing.</summary>
    public static void Check(IReadOnlyList<(string Name, Tensor Tensor)> targets, HuggingFaceCheckpoint checkpoint, ICheckpointLayout layout) =>
        Plan(targets, checkpoint, layout);

    private sealed record BindPlan(List<(Tensor Target, SafetensorsFile File, SafetensorsTensorInfo Info)> Copies, List<(string, string)> Ignored);

    private static BindPlan Plan(IReadOnlyList<(string Name, Tensor Tensor)> targets, HuggingFaceCheckpoint checkpoint, ICheckpointLayout layout)
    {
        var other = new List<string>();
        var ignored = new List<(string, string)>();
        var byCanonical = new Dictionary<string, string>(StringComparer.Ordinal);
        var modelNames = new HashSet<string>(targets.Select(t => t.Name), StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach (var key in checkpoint.Tensors.Keys.Order(StringComparer.Ordinal))
        {
            var canonical = layout.Canonical(key);
            if (!modelNames.Contains(canonical) && layout.IgnoredBecause(canonical) is { } reason)
            {
                ignored.Add((key, reason));
                continue;
            }
            if (byCanonical.TryGetValue(canonical, out var first))
            {
                other.Add($"'{first}' and '{key}' both name '{canonical}' (two key layouts mixed in one checkpoint)");
                continue;
            }
            byCanonical.Add(canonical, key);
            if (!modelNames.Contains(canonical)) unexpected.Add(key == canonical ? key : $"{key} (as {canonical})");
        }

        var missing = new List<string>();
        var misshaped = new List<string>();
        var copies = new List<(Tensor, SafetensorsFile, SafetensorsTensorInfo)>();
        foreach (var (name, tensor) in targets)
        {
            if (!byCanonical.TryGetValue(name, out var key))
            {
                missing.Add(name);
                continue;
            }
            var (file, info) = checkpoint.Tensors[key];
            if (!info.Shape.SequenceEqual(tensor.shape))
            {
                misshaped.Add($"{name}: file {info.ShapeText}, model [{string.Join(", ", tensor.shape)}]");
                continue;
            }
            if (!SafetensorsDType.IsFloatingPoint(info.DType))
            {
                other.Add($"{name}: stored as {info.DTypeName}, not a floating-point type");
                continue;
            }
            copies.Add((tensor, file, info));
        }
        if (missing.Count + unexpected.Count + misshaped.Count + other.Count > 0)
            throw new WeightMismatchException(checkpoint.Folder, missing, unexpected, misshaped, other);
        return new BindPlan(copies, ignored);
    }
}
