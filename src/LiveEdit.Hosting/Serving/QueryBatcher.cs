using System.Diagnostics;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// Runs a greedy answer for each element of a batch with the model the server holds at one version, inside the device
/// lock: the server brings the model to the version (the head, or a past version) and hands it over with the version
/// and the experts left out, as it does for any work.
/// </summary>
public delegate Task<T> WithModel<T>(AsOf asOf, Func<EditedModel, long, IReadOnlyList<SkippedExpert>, T> work, CancellationToken ct);

/// <summary>
/// Gathers concurrent queries that ask for the same version (the head, or one past version) and the same answer length
/// into one <see cref="EditedModel.Answer"/> call: while other queries are in flight, the first one of a batch waits
/// <see cref="ServingSettings.BatchWindowMs"/> for more (a query alone on the server starts at once), at most
/// <see cref="ServingSettings.MaxBatch"/> run together, and queries that arrive while a batch runs form the next one. One batch per version runs at a time; the ledger is read when a batch starts, after every query in it
/// arrived, so a query never sees a version older than the head when it came. Each caller gets its own answer,
/// version and experts (an answer does not depend on its companions: each query is routed and fused on its own).
/// A caller that cancels leaves the others alone, and an input the model refuses fails only its own caller.
/// </summary>
public sealed class QueryBatcher(ServingSettings settings, WithModel<QueryBatcher.Outcome[]> withModel)
{
    private readonly object _gate = new();
    private readonly Dictionary<(AsOf AsOf, int MaxNewTokens), Lane> _lanes = new();

    /// <summary>Queries answered so far in batches of more than one (for tests and figures).</summary>
    public long Batched => Interlocked.Read(ref _batched);
    private long _batched;
    private long _inFlight;

    /// <summary>A greedy answer to one query at <paramref name="asOf"/>, batched with concurrent ones.</summary>
    public Task<QueryResult> QueryAsync(RgbImage? image, string prompt, AsOf asOf, int maxNewTokens, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        var pending = new Pending(image, prompt, Stopwatch.GetTimestamp());
        Interlocked.Increment(ref _inFlight);
        pending.Completion.Task.ContinueWith(_ => Interlocked.Decrement(ref _inFlight), TaskScheduler.Default);
        var key = (asOf, maxNewTokens);
        Lane lane;
        bool start;
        lock (_gate)
        {
            if (!_lanes.TryGetValue(key, out lane!)) _lanes[key] = lane = new Lane();
            lane.Waiting.Add(pending);
            if (lane.Waiting.Count >= settings.MaxBatch) lane.Full.TrySetResult();
            start = !lane.Draining;
            lane.Draining = true;
        }
        if (start) _ = Task.Run(() => DrainAsync(key, lane));
        if (ct.CanBeCanceled)
        {
            var registration = ct.Register(() => pending.Cancel(ct));
            pending.Completion.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return pending.Completion.Task;
    }

    private async Task DrainAsync((AsOf AsOf, int MaxNewTokens) key, Lane lane)
    {
        while (true)
        {
            Pending first;
            Task full;
            lock (_gate)
            {
                if (lane.Waiting.Count == 0)
                {
                    lane.Draining = false;
                    _lanes.Remove(key);
                    return;
                }
                first = lane.Waiting[0];
                full = lane.Full.Task;
            }
            var remaining = TimeSpan.FromMilliseconds(settings.BatchWindowMs) - Stopwatch.GetElapsedTime(first.Arrived);
            // A query alone on the server does not wait for companions that are not coming.
            if (remaining > TimeSpan.Zero && !full.IsCompleted && Interlocked.Read(ref _inFlight) > 1) await Task.WhenAny(Task.Delay(remaining), full);
            List<Pending> batch;
            lock (_gate)
            {
                var take = Math.Min(settings.MaxBatch, lane.Waiting.Count);
                batch = lane.Waiting.GetRange(0, take);
                lane.Waiting.RemoveRange(0, take);
                if (lane.Waiting.Count < settings.MaxBatch) lane.Full = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            await RunAsync(key, batch);
        }
    }

    // Never throws: every caller's task ends with an answer, its own failure, the batch's failure or its cancellation.
    private async Task RunAsync((AsOf AsOf, int MaxNewTokens) key, List<Pending> batch)
    {
        var live = batch.Where(p => !p.Completion.Task.IsCompleted).ToList();
        if (live.Count == 0) return;
        try
        {
            var outcomes = await withModel(key.AsOf, (model, version, skipped) => Answer(model, version, skipped, live, key.MaxNewTokens), CancellationToken.None);
            for (var i = 0; i < live.Count; i++)
            {
                if (outcomes[i].Error is { } error) live[i].Completion.TrySetException(error);
                else live[i].Completion.TrySetResult(outcomes[i].Result!);
            }
            if (live.Count > 1) Interlocked.Add(ref _batched, live.Count);
        }
        catch (Exception e)
        {
            // Reading the version or bringing the model to it failed: the same for every query in the batch.
            foreach (var p in live) p.Completion.TrySetException(e);
        }
    }

    // Inside the device lock, with the model at `version`.
    private static Outcome[] Answer(EditedModel model, long version, IReadOnlyList<SkippedExpert> skipped, IReadOnlyList<Pending> live, int maxNewTokens)
    {
        using var scope = NewDisposeScope();
        var outcomes = new Outcome[live.Count];
        var rows = new List<int>(live.Count);
        var examples = new List<VlmExample>(live.Count);
        for (var i = 0; i < live.Count; i++)
        {
            try
            {
                examples.Add(new VlmExample(live[i].Image is { } image ? model.Model.ImageInput(image) : null, live[i].Prompt));
                rows.Add(i);
            }
            catch (Exception e)
            {
                outcomes[i] = new Outcome(null, e);
            }
        }
        QueryResult Result(EditedAnswer answer) =>
            new(answer.Text, version, answer.Experts.Select(EditedModelServer.InAnswer).ToList(), skipped) { RoutingPolicySha256 = model.Policy.Sha256 };
        if (rows.Count == 0) return outcomes;
        try
        {
            var answers = model.Answer(examples, maxNewTokens);
            for (var j = 0; j < rows.Count; j++) outcomes[rows[j]] = new Outcome(Result(answers[j]), null);
        }
        catch (Exception) when (rows.Count > 1)
        {
            // One input the model refuses (an image of the wrong size, a prompt too long) must not fail the others:
            // answer each alone, so each gets its own answer or its own error.
            for (var j = 0; j < rows.Count; j++)
            {
                try
                {
                    outcomes[rows[j]] = new Outcome(Result(model.Answer([examples[j]], maxNewTokens)[0]), null);
                }
                catch (Exception e)
                {
                    outcomes[rows[j]] = new Outcome(null, e);
                }
            }
        }
        catch (Exception e)
        {
            outcomes[rows[0]] = new Outcome(null, e);
        }
        return outcomes;
    }

    /// <summary>One query's answer or its failure.</summary>
    public readonly record struct Outcome(QueryResult? Result, Exception? Error);

    private sealed class Lane
    {
        public readonly List<Pending> Waiting = [];
        public bool Draining;
        public TaskCompletionSource Full = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Pending(RgbImage? image, string prompt, long arrived)
    {
        public RgbImage? Image { get; } = image;
        public string Prompt { get; } = prompt;
        public long Arrived { get; } = arrived;
        public TaskCompletionSource<QueryResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Cancel(CancellationToken ct) => Completion.TrySetCanceled(ct);
    }
}
