using System.Diagnostics;
using System.Threading.Channels;
using LiveEdit.Bench.Streams;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Model.Editor;
using LiveEdit.Research.Editing;

namespace LiveEdit.Bench.Replay;

/// <summary>One checkpoint evaluated: its metrics row and its lines of answers.jsonl, as of a ledger version.</summary>
public sealed record CheckpointResult(int Checkpoint, long Version, EditMetrics Metrics, string Answers);

/// <summary>
/// Evaluates a replay's checkpoints while the rest of the stream is still being proposed: once the edit that completes
/// checkpoint k is active, the active set as of that version is read from the ledger and measured on a model copy of its
/// own, loaded from the host's checkpoints (same weights, editor and thread count, checked). A version, once visible,
/// never changes, and <see cref="StreamReplay.EvaluateAsync"/> takes a result only when its version is the one the ledger
/// records for that checkpoint, so the files are those of evaluating after the replay; only the waiting overlaps.
/// </summary>
/// <remarks>Checkpoints are measured in order on one evaluation (its cache of unedited answers filled in the same order as
/// the sequential road). A checkpoint that fails here is evaluated again afterwards, on the host's model.</remarks>
public sealed class EarlyCheckpoints
{
    private readonly StreamReplay _replay;
    private readonly HashSet<int> _points;
    private readonly List<Guid> _ids = [];
    private readonly Channel<(int K, long Version, Dictionary<Guid, int> CaseOf)> _due =
        Channel.CreateUnbounded<(int, long, Dictionary<Guid, int>)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Task<Dictionary<int, CheckpointResult>> _work;

    /// <param name="evaluator">A model copy used for nothing else while the replay runs.</param>
    /// <param name="host">The host's model: the evaluator must be the same model, editor and thread count.</param>
    /// <exception cref="ReplayException">The evaluator is not the host's model and editor.</exception>
    public EarlyCheckpoints(StreamReplay replay, EditLedger ledger, ModelRuntime evaluator, ModelRuntime host, IReadOnlyList<int> checkpoints, int maxEval,
        CancellationToken ct = default)
    {
        if (evaluator.Model.WeightsSha256 != host.Model.WeightsSha256 || evaluator.Editor.GeneratorSha256 != host.Editor.GeneratorSha256 || evaluator.Threads != host.Threads)
            throw new ReplayException("the evaluator's model, editor or thread count differs from the host's; its figures would not be the host's");
        _replay = replay;
        _points = checkpoints.Where(k => k >= 1 && k <= replay.Stream.Cases.Count).ToHashSet();
        _work = Task.Run(() => RunAsync(ledger, evaluator, maxEval, ct), ct);
    }

    /// <summary>Checkpoints measured so far.</summary>
    public int Evaluated { get; private set; }

    /// <summary>Checkpoints whose result <see cref="StreamReplay.EvaluateAsync"/> took (its version was the ledger's for that checkpoint).</summary>
    public int Taken { get; internal set; }

    /// <summary>Called by the replay after case <paramref name="count"/> − 1's edit <paramref name="editId"/> became active at <paramref name="version"/>.</summary>
    internal void Activated(int count, Guid editId, long version)
    {
        _ids.Add(editId);
        if (!_points.Contains(count)) return;
        var caseOf = new Dictionary<Guid, int>(_ids.Count);
        for (var i = 0; i < _ids.Count; i++) caseOf[_ids[i]] = i;
        _due.Writer.TryWrite((count, version, caseOf));
    }

    /// <summary>Waits for every checkpoint announced so far and returns what was measured, by checkpoint.</summary>
    public async Task<Dictionary<int, CheckpointResult>> ResultsAsync(CancellationToken ct = default)
    {
        _due.Writer.TryComplete();
        return await _work.WaitAsync(ct);
    }

    private async Task<Dictionary<int, CheckpointResult>> RunAsync(EditLedger ledger, ModelRuntime evaluator, int maxEval, CancellationToken ct)
    {
        var samples = StreamSamples.From(_replay.Stream);
        var evaluation = new EditorEvaluation(evaluator.Model, evaluator.Editor, samples);
        var experts = new Dictionary<string, Expert>(StringComparer.Ordinal);
        var results = new Dictionary<int, CheckpointResult>();
        await foreach (var (k, version, caseOf) in _due.Reader.ReadAllAsync(ct))
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                results[k] = await _replay.EvaluateCheckpointAsync(ledger, evaluator, evaluation, samples, k, version, caseOf, maxEval, experts, ct);
                _replay.Timings.Checkpoint(k, during: true, Stopwatch.GetElapsedTime(started));
                Evaluated++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Left to the evaluation after the replay, which reads everything again from the ledger.
            }
        }
        return results;
    }
}
