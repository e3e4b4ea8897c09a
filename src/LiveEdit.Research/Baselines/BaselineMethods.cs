using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LiveEdit.Model.Vlm;

namespace LiveEdit.Research.Baselines;

/// <summary>The baselines by name, each with its default settings.</summary>
public static class BaselineMethods
{
    /// <summary>Known method names, in report order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["ft-l", "lora", "grace"];

    /// <summary>Throws <see cref="ArgumentException"/> naming the known methods when <paramref name="method"/> is not one.</summary>
    public static string Check(string method)
    {
        var name = method.Trim().ToLowerInvariant();
        return Names.Contains(name) ? name : throw new ArgumentException($"unknown baseline method '{method}'; known methods: {string.Join(", ", Names)}");
    }

    /// <summary>
    /// A fresh editor of <paramref name="method"/> over <paramref name="model"/>, with its default settings or those
    /// changed by <paramref name="overrides"/> (setting name → number, see <see cref="Configure"/>).
    /// </summary>
    public static ISequentialEditor Create(string method, IVisionLanguageModel model, IReadOnlyDictionary<string, string>? overrides = null)
    {
        var name = Check(method);
        return name switch
        {
            "ft-l" => new LayerFineTuning(model, Configure(new LayerFineTuningConfig(), name, overrides)),
            "lora" => new SequentialLora(model, Configure(new SequentialLoraConfig(), name, overrides)),
            _ => new GraceCodebook(model, Configure(new GraceConfig(), name, overrides)),
        };
    }

    /// <summary>
    /// <paramref name="defaults"/> with the named settings replaced (names as in the record, any case; values are
    /// invariant-culture numbers). Throws <see cref="ArgumentException"/> naming the method's settings for an unknown
    /// name, and naming the setting for a value that is not a number of its type.
    /// </summary>
    public static T Configure<T>(T defaults, string method, IReadOnlyDictionary<string, string>? overrides) where T : class
    {
        if (overrides is null || overrides.Count == 0) return defaults;
        var node = JsonSerializer.SerializeToNode(defaults)!.AsObject();
        foreach (var (key, text) in overrides)
        {
            var property = node.Select(p => p.Key).FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"{method} has no setting '{key}'; its settings: {string.Join(", ", node.Select(p => p.Key))}");
            if (node[property]!.GetValueKind() != JsonValueKind.Number) throw new ArgumentException($"{method}.{property} cannot be set from the command line");
            var integral = !text.Contains('.') && !text.Contains('e', StringComparison.OrdinalIgnoreCase);
            JsonNode value = integral
                ? JsonValue.Create(long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : throw Bad(method, property, text))
                : JsonValue.Create(double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : throw Bad(method, property, text));
            node[property] = value;
        }
        try
        {
            return node.Deserialize<T>()!;
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{method}: {string.Join(", ", overrides.Select(o => $"{o.Key}={o.Value}"))} does not fit its settings ({e.Message})", e);
        }
    }

    private static ArgumentException Bad(string method, string setting, string text) =>
        new($"{method}.{setting}: '{text}' is not a number of the setting's type");

    /// <summary>The settings of an editor, for the run record.</summary>
    public static object Settings(ISequentialEditor editor) => editor switch
    {
        LayerFineTuning f => f.Config,
        SequentialLora l => l.Config,
        GraceCodebook g => g.Config,
        _ => new { },
    };
}
