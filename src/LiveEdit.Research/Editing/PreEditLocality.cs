using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Research.Editing;

/// <summary>
/// The base model's token predictions on each case's locality inputs (image and text), made once per case: the
/// reference T-Loc and M-Loc compare against. Shared by LiveEdit's and the baselines' evaluations.
/// </summary>
internal sealed class PreEditLocality(IVisionLanguageModel model, IReadOnlyList<EditSample> cases)
{
    private readonly long[]?[] image = new long[]?[cases.Count];
    private readonly long[]?[] text = new long[]?[cases.Count];

    /// <summary>Whether case i's predictions are made.</summary>
    public bool Has(int i) => image[i] is not null;

    /// <summary>Case i's pre-edit predictions on its image-locality answer.</summary>
    public long[] Image(int i) => image[i] ?? throw new InvalidOperationException($"no pre-edit prediction for case {i}");

    /// <summary>Case i's pre-edit predictions on its text-locality answer.</summary>
    public long[] Text(int i) => text[i] ?? throw new InvalidOperationException($"no pre-edit prediction for case {i}");

    /// <summary>Makes the missing predictions for <paramref name="indices"/> with the base model, <paramref name="perBatch"/> cases per forward.</summary>
    public void Ensure(IReadOnlyList<int> indices, int perBatch = int.MaxValue)
    {
        foreach (var chunk in indices.Where(i => !Has(i)).Chunk(Math.Max(1, perBatch)))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var inputs = model.Prepare(chunk.SelectMany(i => new[] { cases[i].ImageLocality.ToExample(), cases[i].TextLocality.ToExample() }).ToList());
            var predicted = EditorEvaluation.Predictions(model.Logits(inputs), inputs);
            for (var j = 0; j < chunk.Length; j++)
            {
                image[chunk[j]] = predicted[2 * j];
                text[chunk[j]] = predicted[2 * j + 1];
            }
        }
    }
}
