using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;
using LiveEdit.Model.Editor;

namespace LiveEdit.Research.Editing;

/// <summary>
/// Paper metrics over a set of edits that are all active (percentages): Rel, T-Gen, M-Gen = teacher-forced token
/// accuracy on the new target (its tokens and the end-of-answer token); T-Loc, M-Loc = agreement with the pre-edit
/// model's token predictions; exact match of greedy answers; the hard filter's precision (survivors that belong to
/// the query's entity) and recall (generality queries whose own expert survived).
/// <see cref="MLocExcluded"/> counts image-locality questions left out of M-Loc because an active edit changes the
/// very fact they ask (their right answer is then the edit's, not the pre-edit model's).
/// <see cref="WrongSurvivorsLookAlike"/>: of the survivors that belong to another entity than an edit, paraphrase or
/// other-rendering query's, the share from a look-alike of that entity (same <see cref="EditSample.LookAlikes"/> group;
/// NaN when groups are unknown).
/// </summary>
public sealed record EditMetrics(
    string Protocol, int Edits, int ActiveExperts, int Cases,
    double Rel, double TGen, double MGen, double TLoc, double MLoc,
    double RelExact, double TGenExact, double MGenExact,
    double FilterPrecision, double FilterRecall, double MeanSurvivors, int MLocExcluded = 0, double WrongSurvivorsLookAlike = double.NaN)
{
    /// <summary>Filter recall by query kind (edit input, paraphrase, other rendering): where the misses are.</summary>
    public double RecallRel { get; init; } = double.NaN;
    /// <inheritdoc cref="RecallRel"/>
    public double RecallTGen { get; init; } = double.NaN;
    /// <inheritdoc cref="RecallRel"/>
    public double RecallMGen { get; init; } = double.NaN;
    /// <summary>Rel over the edit inputs whose own expert survived the filter: what the generator achieves when it fires.</summary>
    public double RelWhenFired { get; init; } = double.NaN;
    /// <summary>M-Gen over the other-rendering inputs whose own expert survived.</summary>
    public double MGenWhenFired { get; init; } = double.NaN;
    /// <summary>
    /// Where M-Loc's loss comes from (percentage points of 100 − M-Loc over the measured image-locality inputs): inputs
    /// whose survivors are all experts of the input's own entity (edits of its other facts: the visual filter is right
    /// to keep them, only soft routing can hold them back).
    /// </summary>
    public double MLocLostSameEntity { get; init; } = double.NaN;
    /// <summary>Likewise, inputs with at least one survivor of another entity (the visual filter let a wrong one through).</summary>
    public double MLocLostOtherEntity { get; init; } = double.NaN;
    /// <summary>Share of the measured image-locality inputs with at least one survivor of another entity, %.</summary>
    public double MLocWithOtherEntity { get; init; } = double.NaN;
    /// <summary>
    /// Of <see cref="MLocLostOtherEntity"/>, the points lost on inputs where another entity's survivor edits the very
    /// attribute the input asks (soft routing cannot tell such an expert from the input's own).
    /// </summary>
    public double MLocLostOtherSameFact { get; init; } = double.NaN;
    /// <summary>
    /// Of <see cref="MLocLostOtherSameFact"/>, by how many visible look attributes the closest such expert's entity
    /// differs from the input's (index 0…5; points of M-Loc); null without <see cref="EditorEvaluation.LookDistance"/>.
    /// </summary>
    public double[]? MLocLostByLookDistance { get; init; }
    /// <summary>
    /// Of the distance-1 part of <see cref="MLocLostByLookDistance"/>, which attribute told the two looks apart (shape,
    /// body colour, markings colour, pattern, eyes; points of M-Loc).
    /// </summary>
    public double[]? MLocLostNearMissAttribute { get; init; }
    /// <summary>
    /// Of <see cref="MLocLostOtherSameFact"/>, the points on inputs whose entity the editor was trained on (the
    /// editor-training split); NaN without <see cref="EditorEvaluation.TrainedEntity"/>.
    /// </summary>
    public double MLocLostOnTrainedEntities { get; init; } = double.NaN;
}

/// <summary>Cost figures: expert generation per edit and single-query latency by number of active experts.</summary>
public sealed record EditorCost(double GenerationMsPerEdit, IReadOnlyList<QueryCost> QueryLatency)
{
    /// <summary>Where a query's time goes, per number of active experts (medians).</summary>
    public IReadOnlyList<LatencyBreakdown> Breakdown { get; init; } = [];
}

/// <summary>
/// Greedy answers to one image query at a time with <paramref name="Experts"/> active experts, each timed back to back
/// with the base model's answer to the same query (in alternating order), so that both see the same machine.
/// </summary>
/// <param name="MedianMs">Median latency with the experts.</param>
/// <param name="P95Ms">95th percentile with the experts.</param>
/// <param name="BaseMedianMs">Median latency of the base model on the same queries, timed alongside.</param>
/// <param name="Steps">Mean decoding steps (forwards) per answer with the experts: an edit may lengthen the answer.</param>
/// <param name="BaseSteps">Mean decoding steps per answer of the base model.</param>
public sealed record QueryCost(int Experts, double MedianMs, double P95Ms, double BaseMedianMs, double Steps, double BaseSteps)
{
    /// <summary>Median latency over the base model's median on the same queries.</summary>
    public double TimesBase => MedianMs / BaseMedianMs;
    /// <summary>The same ratio per decoding step (median / mean steps), apart from answers made longer by edits.</summary>
    public double TimesBasePerStep => MedianMs / Steps / (BaseMedianMs / BaseSteps);
}

/// <summary>
/// Medians for one image query with <paramref name="Experts"/> active: one teacher-forced forward with the experts
/// (<paramref name="ForwardMs"/>) and without (<paramref name="BaseForwardMs"/>), the routing alone — input-side keys,
/// hard filter over every expert, soft weights — (<paramref name="RoutingMs"/>) and the input-side keys alone
/// (<paramref name="KeysMs"/>), and the mean number of experts that survive the hard filter.
/// </summary>
public sealed record LatencyBreakdown(int Experts, double BaseForwardMs, double ForwardMs, double RoutingMs, double KeysMs, double MeanSurvivors);

/// <summary>
/// Evaluation on edit cases (docs/method.md): experts are generated once per case (a pure function of the edit), then
/// activated per protocol — lifelong (one stream, no reset, metrics at checkpoints over all edits so far) or the
/// paper's chunks (T edits, test the chunk, reset).
/// </summary>
public sealed class EditorEvaluation
{
    private readonly IVisionLanguageModel model;
    private readonly EditorModules editor;
    private readonly IReadOnlyList<EditSample> cases;
    private readonly int batchSize;
    private readonly Expert?[] experts;
    private readonly PreEditLocality pre;
    private double generationMs;
    private int generated;

    public EditorEvaluation(IVisionLanguageModel model, EditorModules editor, IReadOnlyList<EditSample> cases, int batchSize = 32)
    {
        this.model = model;
        this.editor = editor;
        this.cases = cases;
        this.batchSize = batchSize;
        experts = new Expert?[cases.Count];
        pre = new PreEditLocality(model, cases);
    }

    /// <summary>Routing ablations applied by the protocols.</summary>
    public RoutingOptions Options { get; init; } = RoutingOptions.Paper;

    /// <summary>Also decode greedy answers for exact match (slower).</summary>
    public bool ExactMatch { get; init; } = true;

    /// <summary>Progress lines.</summary>
    public Action<string>? Log { get; init; }
    /// <summary>
    /// Diagnostic: per visible look attribute (shape, body colour, markings colour, pattern, eyes), whether two entities
    /// differ in it (null: not reported).
    /// </summary>
    public Func<int, int, bool[]>? LookDistance { get; init; }
    /// <summary>Diagnostic: whether the editor was trained on an entity (null: not reported).</summary>
    public Func<int, bool>? TrainedEntity { get; init; }

    /// <summary>
    /// When a later edit changes the same fact (entity and attribute) as an earlier one, remove the earlier expert, as
    /// the ledger does when an edit is replaced (default). Either way only the latest edit of each fact is measured:
    /// a superseded target is no longer the right answer.
    /// </summary>
    public bool RemoveSuperseded { get; init; } = true;

    /// <summary>The expert id of case i.</summary>
    public static string ExpertId(EditSample sample) => $"edit-{sample.Id}";

    /// <summary>Mean expert generation time so far (ms per edit).</summary>
    public double GenerationMsPerEdit => generated == 0 ? double.NaN : generationMs / generated;

    /// <summary>
    /// Where the expert of case i comes from instead of generating it here (for example the expert a ledger recorded
    /// for that edit); null: generate.
    /// </summary>
    public Func<int, Expert>? ExpertSource { get; init; }

    /// <summary>The expert of case i (generated, or taken from <see cref="ExpertSource"/>, on first use).</summary>
    public Expert ExpertOf(int i)
    {
        if (experts[i] is { } e) return e;
        if (ExpertSource is { } source) return experts[i] = source(i);
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        e = new ExpertGenerator(model, editor).Generate(cases[i].Edit.ToExample());
        generationMs += clock.Elapsed.TotalMilliseconds;
        generated++;
        return experts[i] = e;
    }

    /// <summary>Lifelong protocol: one stream of edits 0..N−1, no reset; metrics at each checkpoint over all edits so far (at most <paramref name="maxEvalCases"/> of them, evenly spaced).</summary>
    public IReadOnlyList<EditMetrics> Lifelong(IReadOnlyList<int> checkpoints, int maxEvalCases = 1000)
    {
        var result = new List<EditMetrics>();
        using var edited = new EditedModel(model, editor, Options);
        var latest = new Dictionary<(int?, string), int>();
        var added = 0;
        foreach (var t in checkpoints.Where(t => t <= cases.Count).Order())
        {
            for (; added < t; added++) Activate(edited, latest, added);
            var current = latest.Values.Order().ToList();
            var evalCases = Spaced(current.Count, maxEvalCases).Select(j => current[j]).ToList();
            if (editor.Bank is not null) Log?.Invoke(DescribeHubness(edited, current.Select(ExpertOf).ToList(), t));
            var m = Measure(edited, evalCases, $"lifelong@{t}") with { Edits = t };
            Log?.Invoke(Describe(m));
            result.Add(m);
        }
        return result;
    }

    /// <summary>The paper's protocol: chunks of T edits applied, the chunk tested, reset; at most <paramref name="maxCases"/> cases in all.</summary>
    public EditMetrics Chunks(int chunkSize, int maxCases = 1000)
    {
        var chunks = Math.Max(1, Math.Min(cases.Count, maxCases) / chunkSize);
        var parts = new List<EditMetrics>();
        using var edited = new EditedModel(model, editor, Options);
        for (var c = 0; c < chunks; c++)
        {
            edited.Clear();
            var latest = new Dictionary<(int?, string), int>();
            foreach (var i in Enumerable.Range(c * chunkSize, chunkSize).Where(i => i < cases.Count)) Activate(edited, latest, i);
            parts.Add(Measure(edited, latest.Values.Order().ToList(), $"chunks T={chunkSize}"));
        }
        var merged = Merge($"chunks T={chunkSize}", chunkSize, parts);
        Log?.Invoke(Describe(merged));
        return merged;
    }

    // Where the active experts' hubness o_e lie (before λ): sets the margin that keeps the median expert's threshold.
    // The values are the ones the filter uses (EditedModel keeps them per expert), so this costs no second pass.
    private string DescribeHubness(EditedModel edited, IReadOnlyList<Expert> active, int edits)
    {
        var k = Math.Max(1, edited.Policy.HubnessTopK);
        var o = active.Select(edited.Hubness).Order().ToArray();
        double At(double q) => o[(int)Math.Round(q * (o.Length - 1))];
        return FormattableString.Invariant($"lifelong@{edits}: hubness o_e (top {k}) of the {o.Length} active experts: p10 {At(0.1):F3}, median {At(0.5):F3}, p90 {At(0.9):F3}");
    }

    private void Activate(EditedModel edited, Dictionary<(int?, string), int> latest, int i)
    {
        var fact = (cases[i].Edit.EntityId, cases[i].Attribute);
        if (latest.TryGetValue(fact, out var previous) && RemoveSuperseded) edited.Remove(ExpertId(cases[previous]));
        latest[fact] = i;
        edited.Add(ExpertId(cases[i]), ExpertOf(i), i);
    }

    /// <summary>
    /// Median and p95 latency of one greedy answer with the given numbers of active experts (0 included when asked),
    /// each query timed back to back with the base model's answer to it, in alternating order.
    /// </summary>
    public EditorCost Cost(IReadOnlyList<int> expertCounts, int queries = 100)
    {
        const int warmUp = 10;
        const int maxNewTokens = 8;
        var latencies = new List<QueryCost>();
        var breakdown = new List<LatencyBreakdown>();
        using var edited = new EditedModel(model, editor, Options);
        var added = 0;
        // Forwards of a greedy answer: one per token and one for <eos> (none after the last allowed token).
        static int Steps(string answer) => Math.Min(maxNewTokens, answer.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length + 1);
        foreach (var n in expertCounts.Where(n => n <= cases.Count).Order())
        {
            for (; added < n; added++) edited.Add(ExpertId(cases[added]), ExpertOf(added), added);
            var times = new List<double>();
            var baseTimes = new List<double>();
            double steps = 0, baseSteps = 0;
            for (var q = 0; q < queries + warmUp; q++)
            {
                using var scope = NewDisposeScope();
                var example = cases[q % cases.Count].ImageGenerality.ToExample(withAnswer: false);
                var clock = new Stopwatch();
                double withExperts = 0, withoutExperts = 0;
                string answer = "", baseAnswer = "";
                for (var turn = 0; turn < 2; turn++)
                {
                    var editedTurn = (turn + q) % 2 == 0;
                    clock.Restart();
                    if (editedTurn) answer = edited.Answer([example], maxNewTokens)[0].Text;
                    else baseAnswer = model.GreedyAnswers([example], maxNewTokens: maxNewTokens)[0];
                    if (editedTurn) withExperts = clock.Elapsed.TotalMilliseconds;
                    else withoutExperts = clock.Elapsed.TotalMilliseconds;
                }
                if (q < warmUp) continue;   // first calls warm up (and stack the keys)
                times.Add(withExperts);
                baseTimes.Add(withoutExperts);
                steps += Steps(answer);
                baseSteps += Steps(baseAnswer);
            }
            var cost = new QueryCost(n, Quantile(times, 0.5), Quantile(times, 0.95), Quantile(baseTimes, 0.5), steps / queries, baseSteps / queries);
            latencies.Add(cost);
            Log?.Invoke(FormattableString.Invariant($"latency with {n} experts: median {cost.MedianMs:F2} ms, base on the same queries {cost.BaseMedianMs:F2} ms ({cost.TimesBase:F2}×; {cost.Steps:F2} vs {cost.BaseSteps:F2} decoding steps, {cost.TimesBasePerStep:F2}× per step)"));
            breakdown.Add(Breakdown(edited, n, queries));
        }
        return new EditorCost(GenerationMsPerEdit, latencies) { Breakdown = breakdown };
    }

    // Nearest-rank quantile; the median of an even count is the upper middle value, as before.
    private static double Quantile(List<double> values, double q)
    {
        var sorted = values.Order().ToList();
        return q == 0.5 ? sorted[sorted.Count / 2] : sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(sorted.Count * q) - 1)];
    }

    private LatencyBreakdown Breakdown(EditedModel edited, int n, int queries)
    {
        var baseForward = new List<double>();
        var forward = new List<double>();
        var routing = new List<double>();
        var keys = new List<double>();
        long survivors = 0;
        using var noGrad = no_grad();
        for (var q = 0; q < queries + 3; q++)
        {
            using var scope = NewDisposeScope();
            var inputs = model.Prepare([cases[q % cases.Count].ImageGenerality.ToExample()]);
            var clock = Stopwatch.StartNew();
            model.Logits(inputs);
            var t0 = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            edited.Logits(inputs);
            var t1 = clock.Elapsed.TotalMilliseconds;
            var hidden = model.HiddenAtEditLayer(inputs);
            clock.Restart();
            var routes = edited.Route(inputs, hidden);
            var t2 = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            editor.InputSide(hidden, inputs, [0]);
            var t3 = clock.Elapsed.TotalMilliseconds;
            if (q < 3) continue;   // warm-up
            baseForward.Add(t0);
            forward.Add(t1);
            routing.Add(t2);
            keys.Add(t3);
            survivors += routes[0].Fired.Count;
        }
        return new LatencyBreakdown(n, Quantile(baseForward, 0.5), Quantile(forward, 0.5), n == 0 ? 0 : Quantile(routing, 0.5), Quantile(keys, 0.5), (double)survivors / queries);
    }

    /// <summary>Metrics for <paramref name="indices"/> with whatever experts <paramref name="edited"/> holds.</summary>
    public EditMetrics Measure(EditedModel edited, IReadOnlyList<int> indices, string protocol)
    {
        var entityOf = new Dictionary<string, int?>(StringComparer.Ordinal);
        var editedFacts = new HashSet<(int, string)>();
        var groupOf = new Dictionary<string, int?>(StringComparer.Ordinal);
        var factOf = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var slot in edited.Slots)
        {
            var known = slot.Order >= 0 && slot.Order < cases.Count;
            entityOf[slot.Id] = known ? cases[(int)slot.Order].Edit.EntityId : null;
            groupOf[slot.Id] = known ? cases[(int)slot.Order].LookAlikes : null;
            factOf[slot.Id] = known ? cases[(int)slot.Order].Attribute : null;
            if (known && cases[(int)slot.Order].Edit.EntityId is { } editedEntity) editedFacts.Add((editedEntity, cases[(int)slot.Order].Attribute));
        }
        bool OfEntity(FiredExpert f, int? entity) => entityOf.TryGetValue(f.Id, out var e) && e == entity;
        var active = edited.Count;
        var tally = new PaperMetricTally(cases, pre, editedFacts);
        long fired = 0, firedOwnEntity = 0, recallHits = 0, recallQueries = 0, imageQueries = 0, wrongOnGenerality = 0, wrongLookAlike = 0;
        var hitsByKind = new long[3];
        double relFired = 0, mgenFired = 0;
        long mlocRows = 0, mlocRowsOther = 0;
        double mlocLostSame = 0, mlocLostOther = 0, mlocLostOtherSameFact = 0, mlocLostTrained = 0;
        var mlocLostByDistance = new double[6];
        var mlocLostNearMiss = new double[5];
        foreach (var chunk in indices.Chunk(Math.Max(1, batchSize / 5)))
        {
            pre.Ensure(chunk);
            using var scope = NewDisposeScope();
            var rows = chunk.SelectMany(i => PaperMetricTally.Queries(cases[i])).ToList();
            var inputs = model.Prepare(rows.Select(q => q.ToExample()).ToList());
            var (logits, routes) = edited.Logits(inputs);
            var predicted = Predictions(logits, inputs);
            for (var c = 0; c < chunk.Length; c++)
            {
                var i = chunk[c];
                var own = ExpertId(cases[i]);
                tally.Add(i, predicted, inputs, 5 * c);
                for (var g = 0; g < 4; g++)
                {
                    var route = routes[5 * c + g];
                    var entity = rows[5 * c + g].EntityId;
                    imageQueries++;
                    fired += route.Fired.Count;
                    firedOwnEntity += route.Fired.Count(f => OfEntity(f, entity));
                    if (g == 3 && tally.ImageLocalityAgreement(i, predicted, 5 * c) is { } agreement)
                    {
                        // M-Loc's loss on this input, by the kind of survivors that caused it.
                        mlocRows++;
                        var lost = 1 - agreement;
                        var other = route.Fired.Any(f => !OfEntity(f, entity));
                        if (other)
                        {
                            mlocRowsOther++;
                            mlocLostOther += lost;
                            var asked = rows[5 * c + 3].Fact;
                            var sameFact = route.Fired.Where(f => !OfEntity(f, entity) && factOf.TryGetValue(f.Id, out var a) && a is not null && a == asked).ToList();
                            if (sameFact.Count > 0)
                            {
                                mlocLostOtherSameFact += lost;
                                if (entity is { } query && TrainedEntity is { } trained && trained(query)) mlocLostTrained += lost;
                                if (entity is { } q && LookDistance is { } distance)
                                {
                                    var closest = sameFact.Select(f => entityOf[f.Id] is { } x ? distance(q, x) : [true, true, true, true, true])
                                        .MinBy(d => d.Count(x => x))!;
                                    mlocLostByDistance[closest.Count(x => x)] += lost;
                                    if (closest.Count(x => x) == 1) mlocLostNearMiss[Array.IndexOf(closest, true)] += lost;
                                }
                            }
                        }
                        else if (route.Fired.Count > 0) mlocLostSame += lost;
                    }
                    if (g >= 3) continue;
                    foreach (var f in route.Fired.Where(f => !OfEntity(f, entity)))
                    {
                        wrongOnGenerality++;
                        if (cases[i].LookAlikes is { } group && groupOf.TryGetValue(f.Id, out var fg) && fg == group) wrongLookAlike++;
                    }
                    recallQueries++;
                    if (!route.Fired.Any(f => f.Id == own)) continue;
                    recallHits++;
                    hitsByKind[g]++;
                    if (g == 0) relFired += PaperMetricTally.TargetAccuracy(predicted, inputs, 5 * c);
                    if (g == 2) mgenFired += PaperMetricTally.TargetAccuracy(predicted, inputs, 5 * c + 2);
                }
            }
            if (ExactMatch)
            {
                var greedy = chunk.SelectMany(i => PaperMetricTally.GreedyQueries(cases[i])).ToList();
                var answers = edited.Answer(greedy.Select(q => q.ToExample(withAnswer: false)).ToList());
                for (var c = 0; c < chunk.Length; c++) tally.AddAnswers(chunk[c], answers[3 * c].Text, answers[3 * c + 1].Text, answers[3 * c + 2].Text);
            }
        }
        double Pct(double x) => 100.0 * x / Math.Max(1, indices.Count);
        return tally.Metrics(protocol, active, active, ExactMatch,
            fired == 0 ? double.NaN : 100.0 * firedOwnEntity / fired,
            recallQueries == 0 ? double.NaN : 100.0 * recallHits / recallQueries,
            imageQueries == 0 ? 0 : (double)fired / imageQueries,
            wrongOnGenerality == 0 || indices.All(j => cases[j].LookAlikes is null) ? double.NaN : 100.0 * wrongLookAlike / wrongOnGenerality) with
        {
            RecallRel = Pct(hitsByKind[0]),
            RecallTGen = Pct(hitsByKind[1]),
            RecallMGen = Pct(hitsByKind[2]),
            RelWhenFired = hitsByKind[0] == 0 ? double.NaN : 100.0 * relFired / hitsByKind[0],
            MGenWhenFired = hitsByKind[2] == 0 ? double.NaN : 100.0 * mgenFired / hitsByKind[2],
            MLocLostSameEntity = mlocRows == 0 ? double.NaN : 100.0 * mlocLostSame / mlocRows,
            MLocLostOtherEntity = mlocRows == 0 ? double.NaN : 100.0 * mlocLostOther / mlocRows,
            MLocWithOtherEntity = mlocRows == 0 ? double.NaN : 100.0 * mlocRowsOther / mlocRows,
            MLocLostOtherSameFact = mlocRows == 0 ? double.NaN : 100.0 * mlocLostOtherSameFact / mlocRows,
            MLocLostByLookDistance = LookDistance is null || mlocRows == 0 ? null : mlocLostByDistance.Select(x => 100.0 * x / mlocRows).ToArray(),
            MLocLostNearMissAttribute = LookDistance is null || mlocRows == 0 ? null : mlocLostNearMiss.Select(x => 100.0 * x / mlocRows).ToArray(),
            MLocLostOnTrainedEntities = TrainedEntity is null || mlocRows == 0 ? double.NaN : 100.0 * mlocLostTrained / mlocRows,
        };
    }

    /// <summary>Argmax token at each answer position (teacher forcing: the logits one position earlier).</summary>
    internal static long[][] Predictions(Tensor logits, VlmInputs inputs)
    {
        var argmax = logits.argmax(-1).cpu().data<long>().ToArray();
        var l = logits.shape[1];
        return Enumerable.Range(0, inputs.Count).Select(i =>
            Enumerable.Range(0, inputs.AnswerLength[i]).Select(t => argmax[i * l + inputs.AnswerStart[i] + t - 1]).ToArray()).ToArray();
    }

    internal static long[] Targets(VlmInputs inputs, int row)
    {
        var l = inputs.TokenIds.shape[1];
        var ids = inputs.TokenIds[row].data<long>().ToArray();
        return Enumerable.Range(0, inputs.AnswerLength[row]).Select(t => ids[inputs.AnswerStart[row] + t]).ToArray();
    }

    internal static double Accuracy(long[] predicted, long[] expected) =>
        expected.Length == 0 ? 1 : predicted.Zip(expected).Count(p => p.First == p.Second) / (double)expected.Length;

    internal static double Same(string a, string b) =>
        string.Equals(Normalise(a), Normalise(b), StringComparison.Ordinal) ? 1 : 0;

    private static string Normalise(string s) => string.Join(' ', s.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    internal static IReadOnlyList<int> Spaced(int t, int max) =>
        t <= max ? Enumerable.Range(0, t).ToList() : Enumerable.Range(0, max).Select(j => (int)((long)j * t / max)).ToList();

    /// <summary>
    /// Pools the same protocols run on several independent streams (one list of rows per stream, rows in the same
    /// order): the paper's metrics weighted by each stream's measured cases (M-Loc by its measured locality inputs),
    /// so that a figure does not rest on one stream's few hundred cases.
    /// </summary>
    public static IReadOnlyList<EditMetrics> Pool(IReadOnlyList<IReadOnlyList<EditMetrics>> streams)
    {
        if (streams.Count == 0) throw new ArgumentException("nothing to pool");
        var rows = streams[0].Count;
        if (streams.Any(s => s.Count != rows)) throw new ArgumentException("every stream must have the same rows");
        var result = new List<EditMetrics>(rows);
        for (var r = 0; r < rows; r++)
        {
            var parts = streams.Select(s => s[r]).ToList();
            if (parts.Any(p => p.Protocol != parts[0].Protocol || p.Edits != parts[0].Edits))
                throw new ArgumentException($"row {r} differs between streams ({parts[0].Protocol} vs {parts.First(p => p.Protocol != parts[0].Protocol || p.Edits != parts[0].Edits).Protocol})");
            result.Add(streams.Count == 1 ? parts[0] : Merge(parts[0].Protocol, parts[0].Edits, parts));
        }
        return result;
    }

    internal static EditMetrics Merge(string protocol, int edits, IReadOnlyList<EditMetrics> parts)
    {
        var n = parts.Sum(p => p.Cases);
        double MLoc()
        {
            var measured = parts.Where(p => !double.IsNaN(p.MLoc)).ToList();
            var count = measured.Sum(p => p.Cases - p.MLocExcluded);
            return count == 0 ? double.NaN : measured.Sum(p => p.MLoc * (p.Cases - p.MLocExcluded)) / count;
        }
        double W(Func<EditMetrics, double> f)
        {
            var measured = parts.Where(p => !double.IsNaN(f(p))).ToList();
            return measured.Count == 0 ? double.NaN : measured.Sum(p => f(p) * p.Cases) / Math.Max(1, measured.Sum(p => p.Cases));
        }
        return new EditMetrics(protocol, edits, (int)Math.Round(parts.Average(p => p.ActiveExperts)), n, W(p => p.Rel), W(p => p.TGen), W(p => p.MGen), W(p => p.TLoc), MLoc(),
            W(p => p.RelExact), W(p => p.TGenExact), W(p => p.MGenExact), W(p => p.FilterPrecision), W(p => p.FilterRecall), W(p => p.MeanSurvivors),
            parts.Sum(p => p.MLocExcluded), W(p => p.WrongSurvivorsLookAlike))
        {
            RecallRel = W(p => p.RecallRel),
            RecallTGen = W(p => p.RecallTGen),
            RecallMGen = W(p => p.RecallMGen),
            RelWhenFired = W(p => p.RelWhenFired),
            MGenWhenFired = W(p => p.MGenWhenFired),
            MLocLostSameEntity = LocalityWeighted(p => p.MLocLostSameEntity),
            MLocLostOtherEntity = LocalityWeighted(p => p.MLocLostOtherEntity),
            MLocWithOtherEntity = LocalityWeighted(p => p.MLocWithOtherEntity),
            MLocLostOtherSameFact = LocalityWeighted(p => p.MLocLostOtherSameFact),
            MLocLostOnTrainedEntities = LocalityWeighted(p => p.MLocLostOnTrainedEntities),
            MLocLostByLookDistance = parts.All(p => p.MLocLostByLookDistance is not null)
                ? Enumerable.Range(0, 6).Select(d => LocalityWeighted(p => p.MLocLostByLookDistance![d])).ToArray()
                : null,
            MLocLostNearMissAttribute = parts.All(p => p.MLocLostNearMissAttribute is not null)
                ? Enumerable.Range(0, 5).Select(d => LocalityWeighted(p => p.MLocLostNearMissAttribute![d])).ToArray()
                : null,
        };

        // Weighted like M-Loc, by the measured image-locality inputs of each part.
        double LocalityWeighted(Func<EditMetrics, double> f)
        {
            var measured = parts.Where(p => !double.IsNaN(f(p))).ToList();
            var count = measured.Sum(p => p.Cases - p.MLocExcluded);
            return count == 0 ? double.NaN : measured.Sum(p => f(p) * (p.Cases - p.MLocExcluded)) / count;
        }
    }

    /// <summary>One line per metrics row, for logs.</summary>
    public static string Describe(EditMetrics m) => string.Create(CultureInfo.InvariantCulture,
        $"{m.Protocol}: edits {m.Edits}, active {m.ActiveExperts}, measured {m.Cases}: Rel {m.Rel:F2} T-Gen {m.TGen:F2} M-Gen {m.MGen:F2} T-Loc {m.TLoc:F2} M-Loc {m.MLoc:F2} (left out {m.MLocExcluded}) | EM {m.RelExact:F1}/{m.TGenExact:F1}/{m.MGenExact:F1} | filter P {m.FilterPrecision:F1} R {m.FilterRecall:F1}, survivors {m.MeanSurvivors:F2}, wrong survivors from look-alikes {m.WrongSurvivorsLookAlike:F1} % | recall by kind {m.RecallRel:F1}/{m.RecallTGen:F1}/{m.RecallMGen:F1}, Rel/M-Gen when fired {m.RelWhenFired:F1}/{m.MGenWhenFired:F1} | M-Loc lost to own-entity / other-entity survivors {m.MLocLostSameEntity:F2}/{m.MLocLostOtherEntity:F2} pts ({m.MLocLostOtherSameFact:F2} where it edits the attribute asked), inputs with an other-entity survivor {m.MLocWithOtherEntity:F1} %")
        + (m.MLocLostByLookDistance is { } byDistance ? string.Create(CultureInfo.InvariantCulture,
            $" | same-attribute loss by look distance 1…5: {string.Join('/', byDistance.Skip(1).Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} pts (one apart, by shape/body/markings/pattern/eyes: {string.Join('/', (m.MLocLostNearMissAttribute ?? []).Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}), on trained entities {m.MLocLostOnTrainedEntities:F2} pts") : "");

    /// <summary>A markdown table of metrics rows.</summary>
    public static string Markdown(IEnumerable<EditMetrics> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| protocol | edits | active experts | measured | Rel | T-Gen | M-Gen | T-Loc | M-Loc | EM Rel | EM T-Gen | EM M-Gen | filter P | filter R | survivors/query | M-Loc left out | wrong survivors from look-alikes % | filter R on edit / paraphrase / other image | Rel / M-Gen when own expert fired |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var m in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {m.Protocol} | {m.Edits} | {m.ActiveExperts} | {m.Cases} | {m.Rel:F2} | {m.TGen:F2} | {m.MGen:F2} | {m.TLoc:F2} | {m.MLoc:F2} | {m.RelExact:F1} | {m.TGenExact:F1} | {m.MGenExact:F1} | {m.FilterPrecision:F1} | {m.FilterRecall:F1} | {m.MeanSurvivors:F2} | {m.MLocExcluded} | {m.WrongSurvivorsLookAlike:F1} | {m.RecallRel:F1} / {m.RecallTGen:F1} / {m.RecallMGen:F1} | {m.RelWhenFired:F1} / {m.MGenWhenFired:F1} |"));
        return sb.ToString();
    }

    /// <summary>
    /// The query latency table: with experts, the base model on the same queries, and both ratios.
    /// <paramref name="medianHeader"/> names the column of medians with experts.
    /// </summary>
    public static string LatencyMarkdown(IEnumerable<QueryCost> rows, string medianHeader = "median ms")
    {
        var sb = new StringBuilder($"| active experts | {medianHeader} | p95 ms | base median ms (same queries) | × base | decoding steps (base) | × base per step |\n|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var q in rows)
            sb.Append(FormattableString.Invariant($"| {q.Experts:N0} | {q.MedianMs:F2} | {q.P95Ms:F2} | {q.BaseMedianMs:F2} | {q.TimesBase:F2} | {q.Steps:F2} ({q.BaseSteps:F2}) | {q.TimesBasePerStep:F2} |\n"));
        return sb.ToString();
    }

    /// <summary>JSON of metrics rows and cost.</summary>
    public static string Json(IEnumerable<EditMetrics> rows, EditorCost? cost) => JsonSerializer.Serialize(new
    {
        metrics = rows,
        cost = cost is null ? null : new
        {
            generationMsPerEdit = cost.GenerationMsPerEdit,
            queryLatency = cost.QueryLatency.Select(x => new
            {
                experts = x.Experts, medianMs = x.MedianMs, p95Ms = x.P95Ms, baseMedianMs = x.BaseMedianMs, timesBase = x.TimesBase,
                steps = x.Steps, baseSteps = x.BaseSteps, timesBasePerStep = x.TimesBasePerStep,
            }),
            breakdown = cost.Breakdown,
        },
    }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
}
