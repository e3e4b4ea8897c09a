using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using Shouldly;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests;

/// <summary>
/// The committed TinyVLM and editor with experts the editor generated for a few edit cases of the default world, and
/// queries that mix what decoding meets: images whose experts fire, images of other entities, text-only questions,
/// prompts of different lengths. Built once per test run (generation is the slow part).
/// </summary>
internal sealed class CommittedEdits
{
    private static readonly Lazy<CommittedEdits> Shared = new(() => new CommittedEdits());

    public static CommittedEdits Instance => Shared.Value;

    private CommittedEdits()
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        Model = TinyVlm.Load(the_committed_checkpoint.Folder());
        var (editor, _) = EditorModules.Load(Path.Combine(Path.GetDirectoryName(the_committed_checkpoint.Folder())!, "liveedit-editor"));
        Editor = editor.Freeze();
        World = new SynthWorld(WorldConfig.Default);
        Cases = World.EditCases(EditSplit.EditorEval, 3, seed: 7);
        var generator = new ExpertGenerator(Model, Editor);
        using var scope = NewDisposeScope();
        Experts = Cases.Select(c => generator.Generate(c.Edit.ToExample(withAnswer: true))).ToList();
    }

    public TinyVlm Model { get; }
    public EditorModules Editor { get; }
    public SynthWorld World { get; }
    public IReadOnlyList<EditCase> Cases { get; }
    public IReadOnlyList<Expert> Experts { get; }

    /// <summary>A model with every expert active (the caller disposes it).</summary>
    public EditedModel Edited()
    {
        var edited = new EditedModel(Model, Editor);
        for (var i = 0; i < Experts.Count; i++) edited.Add($"e{i}", Experts[i], i);
        return edited;
    }

    /// <summary>
    /// Per case: the edit question, the same entity in another rendering, another entity, a text-only question; the
    /// images are tensors in the caller's dispose scope.
    /// </summary>
    public IReadOnlyList<VlmExample> Queries() =>
        Cases.SelectMany(c => new[] { c.Edit, c.ImageGenerality, c.ImageLocality, c.TextLocality })
            .Select(q => q.ToExample(withAnswer: false)).ToList();

    /// <summary>Both decodings chose the same tokens, from logits that agree within <paramref name="tolerance"/>.</summary>
    public static void ShouldAgree(GreedyDecoding actual, GreedyDecoding expected, double tolerance, string what)
    {
        actual.Tokens.Count.ShouldBe(expected.Tokens.Count);
        for (var i = 0; i < expected.Tokens.Count; i++)
        {
            actual.Tokens[i].ShouldBe(expected.Tokens[i], $"{what}: row {i}'s tokens");
            actual.Answers[i].ShouldBe(expected.Answers[i], $"{what}: row {i}'s answer");
            var (a, e) = (actual.StepLogits![i], expected.StepLogits![i]);
            a.Count.ShouldBe(e.Count, $"{what}: row {i}'s steps");
            for (var s = 0; s < e.Count; s++)
            {
                a[s].Length.ShouldBe(e[s].Length);
                var worst = a[s].Zip(e[s], (x, y) => Math.Abs((double)x - y)).Max();
                worst.ShouldBeLessThanOrEqualTo(tolerance, $"{what}: row {i}, step {s}: logits differ by {worst:E2}");
            }
        }
    }

    /// <summary>Same experts, in the same order, with weights within <paramref name="tolerance"/>.</summary>
    public static void ShouldRouteAlike(RoutingDecision actual, RoutingDecision expected, double tolerance, string what)
    {
        actual.HasImage.ShouldBe(expected.HasImage, what);
        actual.Fired.Select(f => f.Id).ShouldBe(expected.Fired.Select(f => f.Id), what);
        for (var j = 0; j < expected.Fired.Count; j++)
            Math.Abs((double)actual.Fired[j].Weight - expected.Fired[j].Weight).ShouldBeLessThanOrEqualTo(tolerance, $"{what}: weight of {expected.Fired[j].Id}");
    }
}
