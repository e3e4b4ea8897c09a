using static TorchSharp.torch;

namespace LiveEdit.Model.HuggingFace;

/// <summary>The element types of the safetensors format this reader and writer handle, by their header names.</summary>
public static class SafetensorsDType
{
    private static readonly Dictionary<string, (ScalarType Type, int Size)> ByName = new(StringComparer.Ordinal)
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>The names this reader accepts ("F32", "F16", "BF16", …).</summary>
    public static IReadOnlyCollection<string> Names => ByName.Keys;

    /// <summary>The torch type and element size of a header's dtype name; false for a name this reader does not handle.</summary>
    public static bool TryParse(string name, out ScalarType type, out int elementSize)
    {
        if (ByName.TryGetValue(name, out var t))
        {
            (type, elementSize) = t;
            return true;
        }
        (type, elementSize) = (default, 0);
        return false;
    }

    /// <summary>The header name of a torch type.</summary>
    public static string NameOf(ScalarType type) =>
        ByName.FirstOrDefault(p => p.Value.Type == type).Key
        ?? throw new ArgumentException($"safetensors has no name for {type}", nameof(type));

    /// <summary>Whether a type is a floating-point type (the only kind model weights are bound from).</summary>
    public static bool IsFloatingPoint(ScalarType type) =>
        type is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;
}
