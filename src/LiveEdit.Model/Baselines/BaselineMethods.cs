using LiveEdit.Model.Vlm;

namespace LiveEdit.Model.Baselines;

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

    /// <summary>A fresh editor of <paramref name="method"/> over <paramref name="model"/>.</summary>
    public static ISequentialEditor Create(string method, IVisionLanguageModel model) => Check(method) switch
    {
        "ft-l" => new LayerFineTuning(model),
        "lora" => new SequentialLora(model),
        _ => new GraceCodebook(model),
    };

    /// <summary>The settings of an editor, for the run record.</summary>
    public static object Settings(ISequentialEditor editor) => editor switch
    {
        LayerFineTuning f => f.Config,
        SequentialLora l => l.Config,
        GraceCodebook g => g.Config,
        _ => new { },
    };
}
