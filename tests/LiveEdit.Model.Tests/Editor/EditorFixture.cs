using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>A random frozen VLM, a random editor and a few random edits (image, prompt, target).</summary>
internal sealed class EditorFixture
{
    public EditorFixture(long seed = 5, int edits = 6, int visualKeyBlocks = 0)
    {
        TorchRuntime.Configure(threads: 1, seed: seed);
        Model = new RandomTinyVlm(seed);
        manual_seed(seed + 1);
        Editor = new EditorModules(EditorConfig.For(Model.Shape, heads: 2) with { VisualKeyBlocks = visualKeyBlocks }).Freeze();
        var generator = new Generator((ulong)(seed + 2));
        Edits = Enumerable.Range(0, edits).Select(i => new VlmExample(
            rand([3, 8, 8], generator: generator).DetachFromDisposeScope(),
            $"what is w{i} x{i % 3} ?", $"t{10 + i} t{20 + i}")).ToList();
        Generator = new ExpertGenerator(Model, Editor);
        Experts = Edits.Select(Generator.Generate).ToList();
    }

    public RandomTinyVlm Model { get; }
    public EditorModules Editor { get; }
    public ExpertGenerator Generator { get; }
    public IReadOnlyList<VlmExample> Edits { get; }
    public IReadOnlyList<Expert> Experts { get; }

    /// <summary>Image queries: each edit's own image with its prompt, and a shuffled pairing.</summary>
    public IReadOnlyList<VlmExample> ImageQueries() =>
        Edits.Concat(Edits.Select((e, i) => e with { Prompt = Edits[(i + 1) % Edits.Count].Prompt })).ToList();

    public EditedModel With(IEnumerable<int> expertIndices, RoutingOptions? options = null)
    {
        var model = new EditedModel(Model, Editor, options);
        foreach (var i in expertIndices) model.Add($"e{i}", Experts[i], i);
        return model;
    }
}
