using LiveEdit.Model.Editor;
using static TorchSharp.torch;

namespace LiveEdit.Research.Editing;

/// <summary>The paper's metrics and the hard filter's precision and recall with a given set of active experts.</summary>
public sealed partial class EditorEvaluation
{
    /// <summary>When set, <see cref="Measure"/> hands it every measured case's queries: scores, answers and the experts that fired.</summary>
    public Action<CaseAudit>? Audit { get; set; }

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
        var locality = new LocalityLossAttribution(entityOf, factOf, LookDistance, TrainedEntity);
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
                        locality.Add(route.Fired, entity, rows[5 * c + 3].Fact, agreement);
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
            IReadOnlyList<EditedAnswer>? answers = null;
            if (ExactMatch)
            {
                var greedy = chunk.SelectMany(i => PaperMetricTally.GreedyQueries(cases[i])).ToList();
                answers = edited.Answer(greedy.Select(q => q.ToExample(withAnswer: false)).ToList());
                for (var c = 0; c < chunk.Length; c++) tally.AddAnswers(chunk[c], answers[3 * c].Text, answers[3 * c + 1].Text, answers[3 * c + 2].Text);
            }
            if (Audit is { } audit)
            {
                for (var c = 0; c < chunk.Length; c++)
                {
                    var i = chunk[c];
                    var queries = PaperMetricTally.Queries(cases[i]);
                    // Rows: Rel, T-Gen, M-Gen, M-Loc, T-Loc (the order of PaperMetricTally.Queries).
                    double?[] scores =
                    [
                        PaperMetricTally.TargetAccuracy(predicted, inputs, 5 * c), PaperMetricTally.TargetAccuracy(predicted, inputs, 5 * c + 1),
                        PaperMetricTally.TargetAccuracy(predicted, inputs, 5 * c + 2), tally.ImageLocalityAgreement(i, predicted, 5 * c),
                        Accuracy(predicted[5 * c + 4], pre.Text(i)),
                    ];
                    string[] kinds = ["rel", "tgen", "mgen", "mloc", "tloc"];
                    audit(new CaseAudit(i, Enumerable.Range(0, 5).Select(g => new QueryAudit(kinds[g], queries[g].Prompt, queries[g].Answer, scores[g],
                        g < 3 ? answers?[3 * c + g].Text : null, routes[5 * c + g].Fired)).ToList()));
                }
            }
        }
        double Pct(double x) => 100.0 * x / Math.Max(1, indices.Count);
        return locality.AppliedTo(tally.Metrics(protocol, active, active, ExactMatch,
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
        });
    }
}
