using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Research.Baselines;

/// <summary>
/// FT-L: sequential fine-tuning of the MLP of decoder block l_e (whose output is the edit layer's hidden state) on
/// each edit's reliability input, a few Adam steps per edit, accumulating over the stream. The weights are changed
/// in place; a copy of the originals restores them on <see cref="Reset"/> and <see cref="Dispose"/>.
/// </summary>
public sealed class LayerFineTuning : ISequentialEditor
{
    private readonly IVisionLanguageModel model;
    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> weights;
    private readonly Tensor[] originals;

    public LayerFineTuning(IVisionLanguageModel model, LayerFineTuningConfig? config = null)
    {
        if (model is not IEditLayerMlp mlp)
            throw new ArgumentException($"FT-L fine-tunes the edit layer's MLP in place, and {model.GetType().Name} does not expose it ({nameof(IEditLayerMlp)})");
        this.model = model;
        Config = config ?? new LayerFineTuningConfig();
        EditObjective.Freeze(model);
        weights = mlp.EditLayerMlpParameters();
        using var _ = no_grad();
        originals = weights.Select(w => w.detach().clone().DetachFromDisposeScope()).ToArray();
    }

    /// <summary>Settings.</summary>
    public LayerFineTuningConfig Config { get; }

    /// <inheritdoc />
    public string Method => "ft-l";

    /// <inheritdoc />
    public int Edits { get; private set; }

    /// <inheritdoc />
    public int Entries => Edits;

    /// <inheritdoc />
    public void Apply(VlmExample edit)
    {
        using var scope = NewDisposeScope();
        var inputs = EditObjective.PrepareEdit(model, edit);
        foreach (var w in weights) w.requires_grad = true;
        try
        {
            using var adam = new EditAdam(weights.Cast<Tensor>().ToList(), Config.LearningRate);
            for (var step = 0; step < Config.Steps; step++)
            {
                using var stepScope = NewDisposeScope();
                adam.ZeroGrad();
                var loss = EditObjective.AnswerCrossEntropy(model.Logits(inputs), inputs);
                if (loss.item<float>() < Config.StopLoss) break;
                loss.backward();
                adam.Step();
            }
        }
        finally
        {
            foreach (var w in weights)
            {
                w.requires_grad = false;
                w.grad?.zero_();
            }
        }
        Edits++;
    }

    /// <inheritdoc />
    public Tensor Logits(VlmInputs inputs)
    {
        using var _ = no_grad();
        return model.Logits(inputs);
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Answers(IReadOnlyList<VlmExample> examples, int maxNewTokens = 8) =>
        model.GreedyAnswers(examples.Select(e => e with { Answer = null }).ToList(), null, maxNewTokens);

    /// <inheritdoc />
    public void Reset()
    {
        using (no_grad())
            for (var i = 0; i < weights.Count; i++) weights[i].copy_(originals[i]);
        Edits = 0;
    }

    /// <summary>Restores the base weights and frees the copy.</summary>
    public void Dispose()
    {
        Reset();
        foreach (var t in originals) t.Dispose();
    }
}
