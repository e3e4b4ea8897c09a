using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Research.Baselines;

/// <summary>
/// Sequential LoRA at layer l_e: one rank-r residual ĥ = h + s·(h A) B added to the edit layer's output at every
/// position of every input, trained a few Adam steps per edit on the edit's target cross-entropy and accumulated
/// over the stream. B starts at zero, so before the first edit (and after <see cref="Reset"/>) the model is the base.
/// </summary>
public sealed class SequentialLora : ISequentialEditor
{
    private readonly IVisionLanguageModel model;
    private Tensor a = null!, b = null!;

    public SequentialLora(IVisionLanguageModel model, SequentialLoraConfig? config = null)
    {
        this.model = model;
        Config = config ?? new SequentialLoraConfig();
        if (Config.Rank < 1) throw new ArgumentOutOfRangeException(nameof(config), Config.Rank, "LoRA rank must be at least 1");
        EditObjective.Freeze(model);
        Initialise();
    }

    /// <summary>Settings.</summary>
    public SequentialLoraConfig Config { get; }

    /// <inheritdoc />
    public string Method => "lora";

    /// <inheritdoc />
    public int Edits { get; private set; }

    /// <inheritdoc />
    public int Entries => Edits;

    private void Initialise()
    {
        using var scope = NewDisposeScope();
        var d = model.Shape.HiddenSize;
        var generator = new Generator((ulong)Config.Seed);
        a = (randn([d, Config.Rank], generator: generator) / Math.Sqrt(d)).requires_grad_(true).MoveToOuterDisposeScope().DetachFromDisposeScope();
        b = zeros(Config.Rank, d).requires_grad_(true).MoveToOuterDisposeScope().DetachFromDisposeScope();
    }

    /// <summary>ĥ = h + s·(h A) B. [B, L, d] → [B, L, d]</summary>
    private Tensor Residual(Tensor h) => h + matmul(matmul(h, a), b) * Config.Scale;

    /// <inheritdoc />
    public void Apply(VlmExample edit)
    {
        using var scope = NewDisposeScope();
        var inputs = EditObjective.PrepareEdit(model, edit);
        Tensor h;
        using (no_grad()) h = model.HiddenAtEditLayer(inputs);                 // [1, L, d]
        using var adam = new EditAdam([a, b], Config.LearningRate);
        for (var step = 0; step < Config.Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            adam.ZeroGrad();
            var loss = EditObjective.AnswerCrossEntropy(model.LogitsFromEditLayer(inputs, Residual(h)), inputs);
            if (loss.item<float>() < Config.StopLoss) break;
            loss.backward();
            adam.Step();
        }
        Edits++;
    }

    /// <inheritdoc />
    public Tensor Logits(VlmInputs inputs)
    {
        using var _ = no_grad();
        return model.Logits(inputs, Edits == 0 ? null : Residual);
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Answers(IReadOnlyList<VlmExample> examples, int maxNewTokens = 8)
    {
        using var _ = no_grad();
        return model.GreedyAnswers(examples.Select(e => e with { Answer = null }).ToList(), Edits == 0 ? null : Residual, maxNewTokens);
    }

    /// <inheritdoc />
    public void Reset()
    {
        a.Dispose();
        b.Dispose();
        Initialise();
        Edits = 0;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        a.Dispose();
        b.Dispose();
    }
}
