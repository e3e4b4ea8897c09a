using LiveEdit.Model.Vlm;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Baselines;

/// <summary>What the baselines optimise per edit, and the bits of training they share.</summary>
internal static class EditObjective
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
        var r = tensor(rows.ToArray());
        var p = tensor(positions.ToArray());
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

/// <summary>Adam (no weight decay) over a few tensors, with its moments freed on dispose (one instance per edit).</summary>
internal sealed class EditAdam : IDisposable
{
    private readonly Tensor[] parameters, m, v;
    private readonly double lr, beta1, beta2, eps;
    private long steps;

    public EditAdam(IReadOnlyList<Tensor> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        this.parameters = parameters.ToArray();
        m = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        v = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        (this.lr, this.beta1, this.beta2, this.eps) = (lr, beta1, beta2, eps);
    }

    public void ZeroGrad()
    {
        foreach (var p in parameters) p.grad?.zero_();
    }

    public void Step()
    {
        steps++;
        var bc1 = 1 - Math.Pow(beta1, steps);
        var bc2 = 1 - Math.Pow(beta2, steps);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (var i = 0; i < parameters.Length; i++)
        {
            var g = parameters[i].grad;
            if (g is null) continue;
            m[i].mul_(beta1).add_(g, alpha: 1 - beta1);
            v[i].mul_(beta2).addcmul_(g, g, value: 1 - beta2);
            parameters[i].addcdiv_(m[i], (v[i] / bc2).sqrt_().add_(eps), value: -lr / bc1);
        }
    }

    public void Dispose()
    {
        foreach (var t in m.Concat(v)) t.Dispose();
    }
}
