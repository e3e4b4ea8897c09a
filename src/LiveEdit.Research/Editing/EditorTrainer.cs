using System.Diagnostics;
using LiveEdit.Model.Vlm;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;
using LiveEdit.Model.Editor;
using LiveEdit.Research.Training;
using LiveEdit.Research.World;

namespace LiveEdit.Research.Editing;

/// <summary>Editor training settings (docs/method.md; official defaults: Adam lr 1e-4, ×0.1 after lr_cut_it, all λ = 1).</summary>
/// <param name="BatchSize">Edit cases per step; their experts are the pool that random mixing draws from.</param>
/// <param name="LearningRate">Adam learning rate (the paper's 1e-4 is for a 7B LM; a tiny editor trains faster with more).</param>
/// <param name="DecayAt">Fraction of the steps after which the learning rate is multiplied by 0.1.</param>
/// <param name="CheckpointEvery">Steps between resumable checkpoints (0: none).</param>
/// <param name="FilteredMixing">Random multi-expert mixing only switches on experts that pass the current hard filter
/// (as at inference), instead of any expert of the batch. Experts of other entities with the same question have
/// near-identical text keys; mixed in unfiltered, they ask the generator for an impossible compromise.</param>
/// <param name="PairLookAlikes">Half of each batch are anchors, the other half a look-alike of each anchor (another
/// entity of its <see cref="EditSample.LookAlikes"/> group when there is one): hard negatives for the visual filter.</param>
/// <param name="HardDecisionLoss">Besides the hard-routing InfoNCE, a logistic loss on each filter decision: an input's
/// own edit above the sentinel, other entities' edits below it (the filter compares each expert with the sentinel on
/// its own; InfoNCE only ranks them).</param>
/// <param name="ExtraNegatives">Per step, this many more training cases (seeded by (seed, step), none of the batch's)
/// whose edit-side visual keys are computed fresh and serve as negatives of the hard filter: every input must score
/// the sentinel above them (InfoNCE over those keys ∪ the sentinel). The batch alone gives 15 negatives; the filter
/// must reject hundreds of experts at inference (0: off).</param>
/// <param name="RecallLoss">Besides the hard-routing InfoNCE, −log σ(sim(φ̄, φ̂_own) − sim(φ̄, φ̄_Ξ)) on the edit and
/// generality inputs: the filter's own decision for an input's own edit. InfoNCE only asks the own edit to win a
/// softmax; with many negatives (<see cref="ExtraNegatives"/>) the sentinel rises and own edits start to fall below it.</param>
/// <param name="LookPairs">Our extension: per step, this many pairs of renderings of random looks that belong to no
/// entity (from <see cref="EditorTrainer.UnnamedLookPairs"/>), each asked one training case's prompt. The edit-side key of
/// one rendering must pass the filter for the other rendering (−log σ(sim_own − sim_Ξ)) and fail it for the other pairs'
/// renderings (InfoNCE over those keys ∪ the sentinel). The editor-training split has a fixed set of entities, and the
/// filter learns to tell those apart (84 % precision on them, 53 % on the evaluation split's); unnamed looks never
/// repeat (0: off).</param>
/// <param name="KeysOnly">Our fine-tuning mode: train only the visual keys and the sentinel
/// (<see cref="EditorModules.VisualKeyParameters"/>) with the hard-routing losses alone; generators, text keys and the
/// fusion norm stay bit-identical, and no LM layer above l_e runs (the frozen layer-l_e states are cached).</param>
public sealed record EditorTrainingOptions(
    int Steps = 3000,
    int BatchSize = 16,
    double LearningRate = 5e-4,
    double DecayAt = 0.8,
    long Seed = 1,
    int CheckpointEvery = 500,
    bool HardRoutingLoss = true,
    bool FilteredMixing = false,
    bool PairLookAlikes = false,
    bool HardDecisionLoss = false,
    int ExtraNegatives = 0,
    bool RecallLoss = false,
    bool KeysOnly = false,
    int LookPairs = 0);

/// <summary>Loss terms of one step (batch means).</summary>
public sealed record EditorLosses(double Total, double Reliability, double Generality, double Locality, double SoftRouting, double HardRouting);

/// <summary>Progress of a training run, reported after every step.</summary>
public sealed record EditorTrainingProgress(int Step, int Steps, EditorLosses Losses, double LearningRate, TimeSpan Elapsed);

/// <summary>
/// Trains the editor (extractors, sentinel, generators, fusion norm) on edit cases with the frozen base model, with
/// the losses of docs/method.md. Seeded: the cases of step t and the random expert mixing of step t depend only on
/// (seed, t), so a resumed run continues exactly as an uninterrupted one.
/// </summary>
public sealed class EditorTrainer
{
    private const double Eps = 1e-8;
    private readonly IVisionLanguageModel model;
    private readonly EditorModules editor;
    private readonly IReadOnlyList<EditSample> samples;
    private readonly EditorTrainingOptions options;
    private readonly AdamW optimizer;
    private readonly FrozenState[] frozen;

    public EditorTrainer(IVisionLanguageModel model, EditorModules editor, IReadOnlyList<EditSample> samples, EditorTrainingOptions options)
    {
        if (samples.Count < options.BatchSize) throw new ArgumentException($"need at least {options.BatchSize} training cases, got {samples.Count}");
        if (options.KeysOnly && !options.HardRoutingLoss) throw new ArgumentException("keys-only training needs the hard-routing loss");
        this.model = model;
        this.editor = editor;
        this.samples = samples;
        this.options = options;
        if (model is nn.Module frozenModel)
        {
            frozenModel.eval();
            foreach (var p in frozenModel.parameters()) p.requires_grad = false;
        }
        frozen = new FrozenState[samples.Count];
        SetTrainable();
        editor.InvalidateHash();
        // Adam: AdamW with no weight decay and PyTorch's Adam betas.
        optimizer = new AdamW(Trained(), beta1: 0.9, beta2: 0.999, weightDecay: 0);
    }

    // The parameters this run trains: all of the editor's, or with KeysOnly the visual keys' and the sentinel.
    private IEnumerable<(string, Parameter)> Trained() =>
        options.KeysOnly ? editor.VisualKeyParameters() : editor.named_parameters().Select(p => (p.name, p.parameter));

    private void SetTrainable()
    {
        foreach (var p in editor.parameters()) p.requires_grad = !options.KeysOnly;
        foreach (var (_, p) in Trained()) p.requires_grad = true;
    }

    /// <summary>
    /// Source of <see cref="EditorTrainingOptions.LookPairs"/>: for a seed, that many pairs of images [3, H, W], two
    /// renderings of one random look that no entity has; a pure function of the seed.
    /// </summary>
    public Func<ulong, int, IReadOnlyList<(Tensor First, Tensor Second)>>? UnnamedLookPairs { get; init; }

    /// <summary>Steps done so far (after a resume, the checkpoint's step).</summary>
    public int Step { get; private set; }

    /// <summary>The learning rate at step t (0-based): lr, then lr·0.1 after <see cref="EditorTrainingOptions.DecayAt"/>.</summary>
    public double LearningRateAt(int step) => step >= options.DecayAt * options.Steps ? options.LearningRate * 0.1 : options.LearningRate;

    /// <summary>
    /// Runs to <see cref="EditorTrainingOptions.Steps"/>, resuming from <paramref name="checkpointFolder"/> when it
    /// holds a checkpoint, writing one there every <see cref="EditorTrainingOptions.CheckpointEvery"/> steps.
    /// </summary>
    public void Train(Action<EditorTrainingProgress>? progress = null, string? checkpointFolder = null, CancellationToken cancel = default)
    {
        if (checkpointFolder is not null) TryResume(checkpointFolder);
        var clock = Stopwatch.StartNew();
        editor.train();
        while (Step < options.Steps)
        {
            cancel.ThrowIfCancellationRequested();
            var lr = LearningRateAt(Step);
            var losses = TrainStep(Step, lr);
            Step++;
            progress?.Invoke(new EditorTrainingProgress(Step, options.Steps, losses, lr, clock.Elapsed));
            if (checkpointFolder is not null && options.CheckpointEvery > 0 && (Step % options.CheckpointEvery == 0 || Step == options.Steps))
                SaveCheckpoint(checkpointFolder);
        }
        editor.InvalidateHash();
        editor.Freeze();
    }

    /// <summary>
    /// The cases of step t: a seeded shuffle of the pool per epoch; with <see cref="EditorTrainingOptions.PairLookAlikes"/>
    /// half the batch comes from that shuffle and each of those is paired with a seeded pick among its look-alikes.
    /// </summary>
    public IReadOnlyList<int> BatchIndices(int step)
    {
        var anchors = options.PairLookAlikes ? options.BatchSize / 2 : options.BatchSize;
        var perEpoch = samples.Count / anchors;
        var epoch = step / perEpoch;
        var order = Enumerable.Range(0, samples.Count).ToArray();
        new Random(Seed(epoch, 0x5A17)).Shuffle(order);
        var batch = order.Skip(step % perEpoch * anchors).Take(anchors).ToList();
        if (!options.PairLookAlikes) return batch;
        var rng = new Random(Seed(step, 0x9A12));
        foreach (var anchor in batch.ToArray())
        {
            var candidates = LookAlikesOf(anchor).Where(c => !batch.Contains(c)).ToList();
            int partner;
            if (candidates.Count > 0) partner = candidates[rng.Next(candidates.Count)];
            else do partner = rng.Next(samples.Count); while (batch.Contains(partner));
            batch.Add(partner);
        }
        return batch;
    }

    // A fixed function of (seed, t, salt): HashCode.Combine is randomised per process and would make runs irreproducible.
    private int Seed(int t, int salt) => unchecked((int)WorldRandom.Mix(options.Seed, t, salt));

    /// <summary>Cases about other entities of the same look-alike group.</summary>
    private IReadOnlyList<int> LookAlikesOf(int i)
    {
        lookAlikes ??= samples.Select((s, j) => (s.LookAlikes, j)).Where(x => x.LookAlikes is not null)
            .GroupBy(x => x.LookAlikes!.Value).ToDictionary(g => g.Key, g => g.Select(x => x.j).ToArray());
        if (samples[i].LookAlikes is not { } group) return [];
        return lookAlikes[group].Where(j => samples[j].Edit.EntityId != samples[i].Edit.EntityId).ToArray();
    }

    private Dictionary<int, int[]>? lookAlikes;

    /// <summary>One optimisation step on the batch of step t; returns its losses.</summary>
    public EditorLosses TrainStep(int step, double lr)
    {
        if (options.KeysOnly) return KeysOnlyStep(step, lr);
        using var scope = NewDisposeScope();
        var (indices, batch, inputs, hidden) = BatchRows(step);             // hidden [4b, L, d], no grad
        var b = batch.Count;
        var rng = new Random(Seed(step, 0x3C1E));
        var all = Enumerable.Range(0, 4 * b).ToList();
        var edits = editor.EditSide(hidden, inputs, Enumerable.Range(0, b).ToList()); // U, V [b, r, d]; φ̂, ψ̂ [b, k, d_m]
        var keys = editor.InputSide(hidden, inputs, all);                   // φ̄, φ̄_Ξ, ψ̄ [4b, k, d_m]

        // Random multi-expert mixing: each row switches on a random subset of the batch's experts (with filtered
        // mixing, only those the hard filter passes now, as at inference); reliability and generality rows always
        // include their own edit, locality rows get only the random ones.
        var visualSims = Routing.Similarity(keys.Visual, edits.VisualKey);            // [4b, b]  sim(φ̄, φ̂)
        var sentinelSims = Routing.PairSimilarity(keys.Visual, keys.Sentinel);         // [4b]     sim(φ̄, φ̄_Ξ)
        var passes = options.FilteredMixing
            ? Routing.HardFilter(visualSims.detach(), sentinelSims.detach()).data<bool>().ToArray()
            : Enumerable.Repeat(true, 4 * b * b).ToArray();
        var on = new bool[4 * b * b];
        for (var row = 0; row < 4 * b; row++)
        {
            var order = Enumerable.Range(0, b).ToArray();
            rng.Shuffle(order);
            var n = rng.Next(b + 1);
            for (var j = 0; j < n; j++) on[row * b + order[j]] = passes[row * b + order[j]];
            if (row < 3 * b) on[row * b + row % b] = true;
        }
        var onTensor = tensor(on).reshape(4 * b, b);
        var textScores = Routing.Similarity(keys.Text, edits.TextKey);      // [4b, b]  s = sim(ψ̄, ψ̂)
        var weights = Routing.SoftWeights(textScores, onTensor);            // Eq. w = σ(s)·softmax(s) over the switched-on
        var residual = Routing.FusedResidual(editor.FusionNorm(hidden), edits.U, edits.V, weights);
        var logits = model.LogitsFromEditLayer(inputs, hidden + residual);  // [4b, L, V]

        var (targets, positions, rowOf) = AnswerPositions(inputs, 0, 3 * b);
        var tokenLogits = logits.reshape(-1, logits.shape[2]).index_select(0, positions); // [T, V]
        var tokenCe = nn.functional.cross_entropy(tokenLogits, targets, reduction: nn.Reduction.None); // [T]
        var rowTensor = tensor(rowOf);
        Tensor GroupMean(Tensor perToken, Tensor rowIndex, int group)
        {
            // Mean over tokens of each row, then over the b rows of the group.
            var rows = zeros(4 * b).index_add(0, rowIndex, perToken, 1);
            var counts = zeros(4 * b).index_add(0, rowIndex, ones_like(perToken), 1);
            return (rows / counts.clamp_min(1)).narrow(0, group * b, b).mean();
        }
        var reliability = GroupMean(tokenCe, rowTensor, 0);                        // CE(reliability)
        var generality = GroupMean(tokenCe, rowTensor, 1) + GroupMean(tokenCe, rowTensor, 2); // CE(text generality) + CE(image generality)
        // Locality: KL(pre ‖ post) on the image-locality rows' answer tokens. Text locality needs no term: inputs
        // without an image never get a residual, so their KL is 0 by construction.
        var (_, locPositions, locRows) = AnswerPositions(inputs, 3 * b, 4 * b);
        var post = nn.functional.log_softmax(logits.reshape(-1, logits.shape[2]).index_select(0, locPositions), -1);
        var pre = cat(indices.Select(i => frozen[i].PreLocality!).ToArray(), 0);     // [T_loc, V] log-probabilities
        var kl = (pre.exp() * (pre - post)).sum(-1);                                // KL(pre ‖ post) per token
        var locality = GroupMean(kl, tensor(locRows), 3);

        var sameEntity = SameEntity(batch);
        var soft = SoftRoutingLoss(batch, keys.Text, edits.TextKey, rng, b);
        var hard = options.HardRoutingLoss ? HardRoutingLoss(visualSims, sentinelSims, batch, sameEntity, b, options.HardDecisionLoss) : zeros(1).sum();
        if (options.HardRoutingLoss && options.ExtraNegatives > 0) hard += ExtraNegativeLoss(step, indices, keys, sentinelSims, batch, b);
        if (options.HardRoutingLoss && options.RecallLoss) hard += RecallLoss(visualSims, sentinelSims, b);
        if (options.HardRoutingLoss && options.LookPairs > 0) hard += LookPairLoss(step);
        var loss = reliability + generality + locality + soft + hard;

        optimizer.ZeroGrad();
        loss.backward();
        optimizer.Step(lr);
        return new EditorLosses(loss.item<float>(), reliability.item<float>(), generality.item<float>(), locality.item<float>(), soft.item<float>(), hard.item<float>());
    }

    /// <summary>
    /// The batch of step t as model rows [edit = reliability input | text generality | image generality | image
    /// locality], b each, with their frozen hidden states at layer l_e.
    /// </summary>
    private (IReadOnlyList<int> Indices, List<EditSample> Batch, VlmInputs Inputs, Tensor Hidden) BatchRows(int step)
    {
        var indices = BatchIndices(step);
        var batch = indices.Select(i => samples[i]).ToList();
        var examples = batch.Select(s => s.Edit.ToExample())
            .Concat(batch.Select(s => s.TextGenerality.ToExample()))
            .Concat(batch.Select(s => s.ImageGenerality.ToExample()))
            .Concat(batch.Select(s => s.ImageLocality.ToExample())).ToList();
        var inputs = model.Prepare(examples);
        return (indices, batch, inputs, FrozenHidden(indices, inputs));
    }

    /// <summary>
    /// A keys-only step: the hard-routing losses of <see cref="TrainStep"/> (InfoNCE over the batch's edit keys ∪ the
    /// sentinel, and the recall, decision and extra-negative terms where switched on) on the cached layer-l_e states.
    /// </summary>
    private EditorLosses KeysOnlyStep(int step, double lr)
    {
        using var scope = NewDisposeScope();
        var (indices, batch, inputs, hidden) = BatchRows(step);                                  // hidden [4b, L, d], no grad
        var b = batch.Count;
        var editKeys = editor.EditVisualKeys(hidden, inputs, Enumerable.Range(0, b).ToList());   // φ̂ [b, k, d_m]
        var keys = editor.InputSide(hidden, inputs, Enumerable.Range(0, 4 * b).ToList());        // φ̄, φ̄_Ξ [4b, k, d_m]
        var visualSims = Routing.Similarity(keys.Visual, editKeys);                              // [4b, b]  sim(φ̄, φ̂)
        var sentinelSims = Routing.PairSimilarity(keys.Visual, keys.Sentinel);                   // [4b]     sim(φ̄, φ̄_Ξ)
        var hard = HardRoutingLoss(visualSims, sentinelSims, batch, SameEntity(batch), b, options.HardDecisionLoss);
        if (options.ExtraNegatives > 0) hard += ExtraNegativeLoss(step, indices, keys, sentinelSims, batch, b);
        if (options.RecallLoss) hard += RecallLoss(visualSims, sentinelSims, b);
        if (options.LookPairs > 0) hard += LookPairLoss(step);
        optimizer.ZeroGrad();
        hard.backward();
        optimizer.Step(lr);
        var value = hard.item<float>();
        return new EditorLosses(value, 0, 0, 0, 0, value);
    }

    /// <summary>
    /// Soft-routing losses on the text keys: InfoNCE over the batch (each case's input picks its own edit) and
    /// −log σ(s_pos) − log(1 − σ(s_neg)). The input of case j is one of its edit, paraphrase or other-image rows.
    /// SynthWorld prompts come from templates, so two cases asking about the same attribute have near-identical
    /// prompts: those pairs are neither positives nor negatives (masked), which the paper's free-form questions
    /// never needed.
    /// </summary>
    private static Tensor SoftRoutingLoss(IReadOnlyList<EditSample> batch, Tensor inputText, Tensor editText, Random rng, int b)
    {
        var pick = Enumerable.Range(0, b).Select(j => (long)(rng.Next(3) * b + j)).ToArray();
        var query = inputText.index_select(0, tensor(pick));               // [b, k, d_m]
        var s = Routing.Similarity(query, editText);                       // [b, b]
        var sameQuestion = new bool[b * b];
        var negative = new long[b];
        for (var i = 0; i < b; i++)
        {
            var candidates = new List<int>();
            for (var j = 0; j < b; j++)
            {
                sameQuestion[i * b + j] = i != j && Attribute(batch[i]) == Attribute(batch[j]);
                if (j != i && !sameQuestion[i * b + j]) candidates.Add(j);
            }
            negative[i] = candidates.Count > 0 ? candidates[rng.Next(candidates.Count)] : (i + 1) % b;
        }
        var masked = s.masked_fill(tensor(sameQuestion).reshape(b, b), -1e30);
        var diagonal = arange(b);
        var infoNce = -nn.functional.log_softmax(masked, 1)[diagonal, diagonal].mean();
        var positive = s[diagonal, diagonal];
        var negativeScores = s[diagonal, tensor(negative)];
        var absolute = -(log(sigmoid(positive) + Eps) + log(1 - sigmoid(negativeScores) + Eps)).mean();
        return infoNce + absolute;
    }

    /// <summary>
    /// Hard-routing losses on the visual keys, InfoNCE over the batch's edit keys ∪ the sentinel: reliability and
    /// generality inputs must pick their own edit, image-locality inputs must pick the sentinel. Other edits of the
    /// same entity are no negatives (the filter should pass them: they are the same image content).
    /// </summary>
    private static Tensor HardRoutingLoss(Tensor sims, Tensor sentinelSims, IReadOnlyList<EditSample> batch, bool[,] sameEntity, int b, bool decisionLoss)
    {
        var sentinel = sentinelSims.unsqueeze(1);                                       // [4b, 1]  sim(φ̄, φ̄_Ξ)
        var logitsAll = cat([sims, sentinel], 1);                                       // [4b, b+1]
        var mask = new bool[4 * b * (b + 1)];
        var target = new long[4 * b];
        for (var row = 0; row < 4 * b; row++)
        {
            var j = row % b;
            var locality = row >= 3 * b;
            target[row] = locality ? b : j;
            for (var e = 0; e < b; e++)
            {
                // Generality rows: same-entity edits other than the own one are masked. Locality rows: an edit of
                // the locality image's own entity would rightly pass the filter, so it is masked too.
                var entity = locality ? batch[j].ImageLocality.EntityId : batch[j].Edit.EntityId;
                var editEntity = batch[e].Edit.EntityId;
                mask[row * (b + 1) + e] = locality ? entity == editEntity : e != j && sameEntity[j, e];
            }
        }
        var masked = logitsAll.masked_fill(tensor(mask).reshape(4 * b, b + 1), -1e30);
        var logProb = nn.functional.log_softmax(masked, 1);
        var picked = logProb[arange(4 * b), tensor(target)];
        var neighbour = -picked.narrow(0, 0, 3 * b).mean();       // generality inputs pick their own edit
        var prototype = -picked.narrow(0, 3 * b, b).mean();       // locality inputs pick the sentinel
        if (!decisionLoss) return neighbour + prototype;

        // Each filter decision on its own: own edit above the sentinel (−log σ(sim_own − sim_Ξ)), edits of other
        // entities below it (−log σ(sim_Ξ − sim_e)); the same masks as above, the own edit is no negative.
        var negative = new float[4 * b * b];
        for (var row = 0; row < 4 * b; row++)
            for (var e = 0; e < b; e++)
                negative[row * b + e] = mask[row * (b + 1) + e] || (row < 3 * b && e == row % b) ? 0f : 1f;
        var negativeMask = tensor(negative).reshape(4 * b, b);
        var positiveDecision = RecallLoss(sims, sentinelSims, b);
        var negativeDecision = (nn.functional.softplus(sims - sentinel) * negativeMask).sum() / negativeMask.sum().clamp_min(1);
        return neighbour + prototype + positiveDecision + negativeDecision;
    }

    /// <summary>The filter keeps an input's own edit: −log σ(sim(φ̄, φ̂_own) − sim(φ̄, φ̄_Ξ)) over the edit and generality rows.</summary>
    private static Tensor RecallLoss(Tensor sims, Tensor sentinelSims, int b)
    {
        var rows = arange(3 * b);
        return KeepsOwn(sims.narrow(0, 0, 3 * b)[rows, rows % b], sentinelSims.narrow(0, 0, 3 * b));
    }

    /// <summary>−log σ(sim_own − sim_Ξ), the mean over rows: each row's own edit passes the filter.</summary>
    private static Tensor KeepsOwn(Tensor own, Tensor sentinelSims) => nn.functional.softplus(sentinelSims - own).mean();

    /// <summary>
    /// InfoNCE over each row's negatives ∪ the sentinel, the sentinel the target: every negative fails the filter.
    /// <paramref name="notNegative"/> [rows, n] marks the columns of <paramref name="sims"/> that are no negatives of a row.
    /// </summary>
    private static Tensor SentinelBeatsNegatives(Tensor sims, Tensor notNegative, Tensor sentinelSims)
    {
        var versus = cat([sims.masked_fill(notNegative, -1e30), sentinelSims.unsqueeze(1)], 1);   // [rows, n+1]
        return -nn.functional.log_softmax(versus, 1).narrow(1, sims.shape[1], 1).mean();
    }

    private static string Attribute(EditSample s) => s.Attribute;

    private static bool[,] SameEntity(IReadOnlyList<EditSample> batch)
    {
        var b = batch.Count;
        var same = new bool[b, b];
        for (var i = 0; i < b; i++)
            for (var j = 0; j < b; j++)
                same[i, j] = batch[i].Edit.EntityId is { } a && a == batch[j].Edit.EntityId;
        return same;
    }

    /// <summary>
    /// Teacher forcing: answer token t of row i is predicted at position t−1. Returns the target ids, the flat
    /// [B·L] positions of the predicting logits and the row of each.
    /// </summary>
    internal static (Tensor Targets, Tensor Positions, long[] Rows) AnswerPositions(VlmInputs inputs, int fromRow, int toRow)
    {
        var l = inputs.TokenIds.shape[1];
        var ids = inputs.TokenIds.data<long>().ToArray();
        var targets = new List<long>();
        var positions = new List<long>();
        var rows = new List<long>();
        for (var i = fromRow; i < toRow; i++)
            for (var t = 0; t < inputs.AnswerLength[i]; t++)
            {
                var p = inputs.AnswerStart[i] + t;
                targets.Add(ids[i * l + p]);
                positions.Add(i * l + p - 1);
                rows.Add(i);
            }
        return (tensor(targets.ToArray()), tensor(positions.ToArray()), rows.ToArray());
    }

    /// <summary>
    /// Hidden states of the frozen model at layer l_e for the batch's rows, padded to the batch length. Each case's four
    /// rows are computed once, on their own (a canonical batch, so the values do not depend on batch composition or
    /// on a resume), and kept with the pre-edit log-probabilities on the locality answer.
    /// </summary>
    private Tensor FrozenHidden(IReadOnlyList<int> indices, VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var i in indices.Where(i => frozen[i] is null)) frozen[i] = ComputeFrozen(samples[i]);
        var b = indices.Count;
        var l = inputs.TokenIds.shape[1];
        var rows = new Tensor[4 * b];
        for (var g = 0; g < 4; g++)
            for (var j = 0; j < b; j++)
            {
                var h = frozen[indices[j]].Hidden[g];                                 // [len, d]
                rows[g * b + j] = nn.functional.pad(h, [0, 0, 0, l - h.shape[0]]);   // [L, d]
            }
        return stack(rows).MoveToOuterDisposeScope();
    }

    private FrozenState ComputeFrozen(EditSample s)
    {
        using var scope = NewDisposeScope();
        var inputs = model.Prepare([s.Edit.ToExample(), s.TextGenerality.ToExample(), s.ImageGenerality.ToExample(), s.ImageLocality.ToExample()]);
        var hidden = model.HiddenAtEditLayer(inputs);                         // [4, L, d]
        Tensor? pre = null;
        if (!options.KeysOnly)
        {
            // Keys-only runs need no locality KL, so no LM layer above l_e.
            var logits = model.LogitsFromEditLayer(inputs, hidden);          // [4, L, V]
            var (_, positions, _) = AnswerPositions(inputs, 3, 4);
            pre = nn.functional.log_softmax(logits.reshape(-1, logits.shape[2]).index_select(0, positions), -1).clone().DetachFromDisposeScope();
        }
        var rows = Enumerable.Range(0, 4).Select(g => hidden[g].narrow(0, 0, inputs.Length[g]).clone().DetachFromDisposeScope()).ToArray();
        int[] editLayout = [inputs.VisionStart[0], inputs.VisionCount[0], inputs.PromptStart[0], inputs.PromptLength[0], inputs.AnswerStart[0], inputs.AnswerLength[0], inputs.Length[0]];
        return new FrozenState(rows, pre, editLayout);
    }

    private sealed record FrozenState(Tensor[] Hidden, Tensor? PreLocality, int[] EditLayout);

    /// <summary>Extra negatives for the hard filter: fresh edit-side visual keys of other cases; the sentinel must win.</summary>
    private Tensor ExtraNegativeLoss(int step, IReadOnlyList<int> batchIndices, InputKeys keys, Tensor sentinelSims, IReadOnlyList<EditSample> batch, int b)
    {
        var rng = new Random(Seed(step, 0x4E67));
        var taken = new HashSet<int>(batchIndices);
        var extra = new List<int>();
        while (extra.Count < Math.Min(options.ExtraNegatives, samples.Count - taken.Count))
        {
            var c = rng.Next(samples.Count);
            if (taken.Add(c)) extra.Add(c);
        }
        Tensor hidden;
        VlmInputs layout;
        using (var noGrad = no_grad())
        {
            foreach (var i in extra.Where(i => frozen[i] is null)) frozen[i] = ComputeFrozen(samples[i]);
            var l = extra.Max(i => frozen[i].EditLayout[6]);
            hidden = stack(extra.Select(i => nn.functional.pad(frozen[i].Hidden[0], [0, 0, 0, l - frozen[i].Hidden[0].shape[0]])).ToArray()); // [n, L, d]
            int[] Column(int k) => extra.Select(i => frozen[i].EditLayout[k]).ToArray();
            layout = new VlmInputs(zeros(extra.Count, l, dtype: ScalarType.Int64), null, Column(0), Column(1), Column(2), Column(3), Column(4), Column(5), Column(6));
        }
        var negatives = editor.EditVisualKeys(hidden, layout, Enumerable.Range(0, extra.Count).ToList());   // [n, k, d_m]
        var sims = Routing.Similarity(keys.Visual, negatives);                                             // [4b, n]
        var other = new bool[4 * b * extra.Count];
        for (var row = 0; row < 4 * b; row++)
        {
            var j = row % b;
            var entity = row >= 3 * b ? batch[j].ImageLocality.EntityId : batch[j].Edit.EntityId;
            for (var e = 0; e < extra.Count; e++) other[row * extra.Count + e] = entity is null || samples[extra[e]].Edit.EntityId != entity;
        }
        return SentinelBeatsNegatives(sims, tensor(other).reshape(4 * b, extra.Count).logical_not(), sentinelSims);
    }

    /// <summary>
    /// The hard filter on pairs of renderings of unnamed looks (<see cref="EditorTrainingOptions.LookPairs"/>): pair j's
    /// first rendering with case c_j's prompt is an edit, its second rendering with the same prompt a query; the query
    /// keeps its own edit (−log σ(sim_own − sim_Ξ)) and rejects the other pairs' edits (InfoNCE over them ∪ the sentinel).
    /// </summary>
    private Tensor LookPairLoss(int step)
    {
        var source = UnnamedLookPairs ?? throw new InvalidOperationException("LookPairs needs UnnamedLookPairs");
        var n = options.LookPairs;
        var rng = new Random(Seed(step, 0x4C6B));
        var pairs = source(WorldRandom.Mix(options.Seed, step, 0x4C6B), n);
        var prompts = Enumerable.Range(0, n).Select(_ => samples[rng.Next(samples.Count)].Edit).ToList();
        var examples = pairs.Select((p, j) => new VlmExample(p.First, prompts[j].Prompt, prompts[j].Answer))
            .Concat(pairs.Select((p, j) => new VlmExample(p.Second, prompts[j].Prompt, prompts[j].Answer))).ToList();
        var inputs = model.Prepare(examples);
        Tensor hidden;
        using (no_grad()) hidden = model.HiddenAtEditLayer(inputs);                                   // [2n, L, d]
        var editKeys = editor.EditVisualKeys(hidden, inputs, Enumerable.Range(0, n).ToList());        // φ̂ [n, k, d_m]
        var keys = editor.InputSide(hidden, inputs, Enumerable.Range(n, n).ToList());                 // φ̄, φ̄_Ξ [n, k, d_m]
        var sims = Routing.Similarity(keys.Visual, editKeys);                                          // [n, n]
        var sentinel = Routing.PairSimilarity(keys.Visual, keys.Sentinel);                             // [n]
        var diagonal = arange(n);
        return KeepsOwn(sims[diagonal, diagonal], sentinel) + SentinelBeatsNegatives(sims, eye(n, dtype: ScalarType.Bool), sentinel);
    }

    private void SaveCheckpoint(string folder)
    {
        Directory.CreateDirectory(folder);
        editor.InvalidateHash();
        editor.save(Path.Combine(folder, "editor.partial.weights"));
        optimizer.Save(Path.Combine(folder, "optimizer.state"));
        File.WriteAllText(Path.Combine(folder, "step.txt"), Step.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private void TryResume(string folder)
    {
        var stepFile = Path.Combine(folder, "step.txt");
        if (!File.Exists(stepFile)) return;
        editor.load(Path.Combine(folder, "editor.partial.weights"));
        optimizer.Load(Path.Combine(folder, "optimizer.state"));
        Step = int.Parse(File.ReadAllText(stepFile), System.Globalization.CultureInfo.InvariantCulture);
        SetTrainable();
        editor.InvalidateHash();
    }
}
