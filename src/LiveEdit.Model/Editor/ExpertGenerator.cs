using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Turns an edit (image, prompt, new target) into its <see cref="Expert"/>: a pure function of the frozen base
/// model, the frozen editor and the edit. One edit per forward, in eval mode with no gradients, so that the bytes
/// do not depend on what else is generated (batch shapes change floating-point sums).
/// </summary>
public sealed class ExpertGenerator(IVisionLanguageModel model, EditorModules editor)
{
    /// <summary>The frozen base model.</summary>
    public IVisionLanguageModel Model { get; } = model;
    /// <summary>The frozen editor.</summary>
    public EditorModules Editor { get; } = editor;

    /// <summary>Generates the expert of one edit. The example needs an image and an answer (the new target).</summary>
    public Expert Generate(VlmExample edit)
    {
        if (edit.Image is null) throw new ArgumentException("an edit needs an image", nameof(edit));
        if (string.IsNullOrEmpty(edit.Answer)) throw new ArgumentException("an edit needs a new target (Answer)", nameof(edit));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Editor.eval();
        var inputs = Model.Prepare([edit]);
        var hidden = Model.HiddenAtEditLayer(inputs);           // [1, L, d]
        var e = Editor.EditSide(hidden, inputs, [0]);
        var c = Editor.Config;
        return new Expert(c.HiddenSize, c.Rank, c.KeyRows, c.ModuleDim,
            Floats(e.U), Floats(e.V), Floats(e.VisualKey), Floats(e.TextKey),
            Model.WeightsSha256, Editor.GeneratorSha256);
    }

    private static float[] Floats(Tensor t) => t.detach().cpu().contiguous().data<float>().ToArray();
}
