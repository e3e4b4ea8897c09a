using LiveEdit.Model.Vlm;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>What the per-edit optimisers (the baselines, LiveEdit's expert refinement) optimise, and the bits of training they share.</summary>
public static class EditObjective
{
    /// <summary>
    /// Mean cross-entropy of every answer token (the target's words and end-of-answer): teacher forcing, so the
    /// logits at position t score token t+1. [B, L, V] → scalar
    /// </summary>
    public static Tensor AnswerCrossEntropy(Tensor logits, VlmInputs inputs)
    {
        var rows = new List<long>();
        var positions = new List<long>();
        for (var i = 0; i < inputs.Count; i++)
            for (var j = 0; j < inputs.AnswerLength[i]; j++)
            {
                rows.Add(i);
                positions.Add(inputs.AnswerStart[i] + j - 1);
            }
        if (rows.Count == 0) throw new ArgumentException("an edit needs its new target as the example's answer");
        using var scope = NewDisposeScope();
        var r = tensor(rows.ToArray(), device: logits.device);
        var p = tensor(positions.ToArray(), device: logits.device);
        var scored = logits.index(r, p);                             // [N, V]
        var targets = inputs.TokenIds.index(r, p + 1);                 // [N]
        return nn.functional.cross_entropy(scored, targets).MoveToOuterDisposeScope();
    }

    /// <summary>Position of the last prompt token of row i (GRACE's key position).</summary>
    public static int LastPromptPosition(VlmInputs inputs, int i) => inputs.PromptStart[i] + inputs.PromptLength[i] - 1;

    /// <summary>The base model is frozen: gradients flow only into what a baseline trains.</summary>
    public static void Freeze(IVisionLanguageModel model)
    {
        if (model is nn.Module module)
            foreach (var p in module.parameters()) p.requires_grad = false;
    }

    /// <summary>The edit as a one-row batch; throws when it has no target.</summary>
    public static VlmInputs PrepareEdit(IVisionLanguageModel model, VlmExample edit)
    {
        if (string.IsNullOrWhiteSpace(edit.Answer)) throw new ArgumentException("an edit needs its new target as the example's answer", nameof(edit));
        return model.Prepare([edit]);
    }
}
