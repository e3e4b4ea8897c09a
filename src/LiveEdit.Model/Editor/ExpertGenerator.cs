using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Turns an edit (image, prompt, new target) into its <see cref="Expert"/>: a pure function of the frozen base
/// model, the frozen editor and the edit. One edit per forward, in eval mode with no gradients, so that the bytes
/// do not depend on what else is generated (batch shapes change floating-point sums). When the editor's config
/// names an <see cref="ExpertRefinement"/>, the generated U and V are then refined on the edit's own target.
/// </summary>
public sealed class ExpertGenerator(IVisionLanguageModel model, EditorModules editor)
{
    private bool modelFrozen;

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
        var hidden = DeviceTensors.AsFloat32(Model.HiddenAtEditLayer(inputs));   // [1, L, d], the editor computes in float32
        var e = Editor.EditSide(hidden, inputs, [0]);
        var (u, v) = Editor.Config.Refinement is { } refinement ? Refine(inputs, hidden, e, refinement) : (e.U, e.V);
        var c = Editor.Config;
        return new Expert(c.HiddenSize, c.Rank, c.KeyRows, c.ModuleDim,
            Floats(u), Floats(v), Floats(e.VisualKey), Floats(e.TextKey),
            Model.WeightsSha256, Editor.GeneratorSha256);
    }

    /// <summary>
    /// The refinement extension: Adam on U, V [1, r, d] so that the edit input, with this expert alone at its own
    /// routing weight w = σ(s) (softmax over one survivor is 1), gives the new target.
    /// </summary>
    private (Tensor U, Tensor V) Refine(VlmInputs inputs, Tensor hidden, EditTensors generated, ExpertRefinement refinement)
    {
        // Refinement differentiates through the frozen decoder: its weights must not collect gradients. (Here, not in
        // the constructor: the editor's refinement may be switched on after this generator was made.)
        if (!modelFrozen) EditObjective.Freeze(Model);
        modelFrozen = true;
        var keys = Editor.InputSide(hidden, inputs, [0]);
        var weight = Routing.SoftWeights(Routing.Similarity(keys.Text, generated.TextKey));   // [1, 1] Eq. w = σ(s)·softmax(s)
        var normed = Editor.FusionNorm(hidden);                                                // [1, L, d]
        var u = generated.U.detach().clone().requires_grad_(true);
        var v = generated.V.detach().clone().requires_grad_(true);
        using var adam = new EditAdam([u, v], refinement.LearningRate);
        using (enable_grad())
            for (var step = 0; step < refinement.Steps; step++)
            {
                using var stepScope = NewDisposeScope();
                adam.ZeroGrad();
                // Eq. fusion with one expert: ĥ = h + w · ReLU(LN(h) Uᵀ) V
                var residual = Routing.FusedResidual(normed, u, v, weight);
                var loss = EditObjective.AnswerCrossEntropy(Model.LogitsFromEditLayer(inputs, (hidden + residual).to_type(Model.DType)), inputs);
                if (loss.item<float>() < refinement.StopLoss) break;
                loss.backward();
                adam.Step();
            }
        return (u.detach(), v.detach());
    }

    private static float[] Floats(Tensor t) => DeviceTensors.HostFloats(t);
}
