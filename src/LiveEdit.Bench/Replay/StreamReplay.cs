using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LiveEdit.Bench.Streams;
using LiveEdit.Hosting.Experts;
using LiveEdit.Hosting.Serving;
using LiveEdit.Hosting.Storage;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Blobs;
using LiveEdit.Model.Editor;
using LiveEdit.Research.Editing;

namespace LiveEdit.Bench.Replay;

/// <summary>
/// Replays a benchmark stream through the running system and evaluates the lifelong protocol from the ledger.
/// <see cref="ProposeAsync"/> proposes every edit over the inference host's HTTP API, one at a time and waiting for
/// each to become active, so activation order is stream order; an edit of a fact already edited names the earlier
/// edit as superseded. <see cref="EvaluateAsync"/> reads only the ledger: which edit belongs to which case (the
/// rationale names the case), the version that activated it, and at each checkpoint the active set as of that
/// version, experts read back from the blob store. The results hold no times or random ids, so the same stream on
/// a fresh ledger gives the same bytes, and evaluating an old ledger again gives the same bytes too.
/// </summary>
public sealed class StreamReplay(BenchStream stream)
{
    // When each case's expert was made ahead (Stopwatch timestamps; 0: not made ahead), for the breakdown of waiting.
    private long[]? _madeAt;

    /// <summary>The stream replayed.</summary>
    public BenchStream Stream => stream;

    /// <summary>Where this replay's time went (filled by every step; never part of the result files).</summary>
    public ReplayTimings Timings { get; } = new();

    /// <summary>The rationale of the edit proposed for case <paramref name="c"/>; it ties the ledger's edit to the case.</summary>
    public string RationaleOf(BenchCase c) => $"bench {stream.Manifest.Name} {c.Id}";

    /// <summary>
    /// Proposes every case's edit over HTTP (<paramref name="proposerKey"/>) and waits until the ledger reports it
    /// active (read with <paramref name="auditorKey"/>); needs a host whose approval policy approves by itself.
    /// </summary>
    /// <param name="onActivated">Called with the number of cases done after each activation.</param>
    /// <param name="early">Evaluates each checkpoint as soon as its edits are active, while the rest is proposed.</param>
    /// <param name="worker">
    /// The in-process worker's notices (the host's <see cref="PregeneratedExperts"/>): after each proposal the replay waits
    /// for the worker to say it recorded the expert. A notice that the same append activated the edit, with the ledger version
    /// of that activation, ends the wait (the activation is committed); any other notice is followed by a read of the edit.
    /// Polls go on beside it, so a notice that never comes (a worker in another process) only costs the polls' delay. The
    /// versions taken from notices are checked against the ledger's record when the replay is evaluated
    /// (<see cref="EvaluateAsync"/> with the run).
    /// </param>
    /// <exception cref="ReplayException">The host refused an edit, cannot be reached, or an edit did not become active in time.</exception>
    public async Task<ReplayRun> ProposeAsync(Uri host, string proposerKey, string auditorKey, Action<int>? onActivated = null,
        TimeSpan? patience = null, CancellationToken ct = default, EarlyCheckpoints? early = null, PregeneratedExperts? worker = null)
    {
        var woken = 0;
        using var proposer = Client(host, proposerKey);
        using var auditor = Client(host, auditorKey);
        var wait = patience ?? TimeSpan.FromMinutes(2);
        var ids = new Guid[stream.Cases.Count];
        var versions = new long[stream.Cases.Count];
        var latencies = new double[stream.Cases.Count];
        var latest = new Dictionary<(string, string?), Guid>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < stream.Cases.Count; i++)
        {
            var c = stream.Cases[i];
            var entity = StreamSamples.TagValue(c, "entity");
            var fact = (entity ?? "", StreamSamples.TagValue(c, "attribute"));
            Guid? supersedes = entity is not null && latest.TryGetValue(fact, out var older) ? older : null;
            var watch = Stopwatch.StartNew();
            var started = Stopwatch.GetTimestamp();
            var proposed = await SendAsync(proposer, HttpMethod.Post, "/edits", ProposalForm(c, supersedes), ct);
            var id = proposed["editId"]!.GetValue<Guid>();
            var sent = Stopwatch.GetTimestamp();
            long version;
            try
            {
                (version, var byNotice) = await WaitUntilActiveAsync(auditor, id, wait, worker?.WhenRecorded(id), ct);
                if (byNotice) woken++;
            }
            finally
            {
                worker?.Forget(id);
            }
            var seen = Stopwatch.GetTimestamp();
            latencies[i] = watch.Elapsed.TotalMilliseconds;
            Timings.Add(ReplayPhase.Proposing, Stopwatch.GetElapsedTime(started, sent));
            if (_madeAt is { } madeAt && Volatile.Read(ref madeAt[i]) is var made and not 0)
            {
                var ready = Math.Clamp(made, sent, seen);
                Timings.Add(ReplayPhase.WaitingForGeneration, Stopwatch.GetElapsedTime(sent, ready));
                Timings.Add(ReplayPhase.WaitingForActivation, Stopwatch.GetElapsedTime(ready, seen));
            }
            else Timings.Add(ReplayPhase.WaitingForGenerationAndActivation, Stopwatch.GetElapsedTime(sent, seen));
            ids[i] = id;
            versions[i] = version;
            if (entity is not null) latest[fact] = id;
            early?.Activated(i + 1, id, versions[i]);
            onActivated?.Invoke(i + 1);
        }
        return new ReplayRun(ids, versions, latencies, clock.Elapsed.TotalSeconds) { WokenByWorker = woken };
    }

    /// <summary>
    /// Generates every case's expert ahead of its proposal, on <paramref name="generators"/> (model copies of their own,
    /// loaded from the same checkpoints as the host's) in parallel and in stream order, and announces each in
    /// <paramref name="into"/>, which the host's worker takes them from. Proposing stays one edit at a time, so the ledger,
    /// the result files and the expert bytes are those of a run without it; only the waiting for generation overlaps.
    /// </summary>
    /// <returns>A task that ends when every expert is made (a failed one is left to the worker, which generates it itself).</returns>
    /// <exception cref="ReplayException">A generator is not the host's model and editor.</exception>
    /// <param name="store">
    /// The blob store the host's worker stores experts in: each expert is stored there as soon as it is made, so the worker's
    /// own put finds it stored (blobs are content-addressed and insert-only: the same bytes, whoever stores them first).
    /// </param>
    public Task PregenerateAsync(IReadOnlyList<ModelRuntime> generators, ModelRuntime host, PregeneratedExperts into, CancellationToken ct = default, BlobStore? store = null)
    {
        foreach (var g in generators)
        {
            if (g.Model.WeightsSha256 != host.Model.WeightsSha256 || g.Editor.GeneratorSha256 != host.Editor.GeneratorSha256 || g.Threads != host.Threads)
                throw new ReplayException("a generator's model, editor or thread count differs from the host's; its experts would not be the worker's bytes");
        }
        var made = new TaskCompletionSource<Expert>[stream.Cases.Count];
        var madeAt = _madeAt = new long[stream.Cases.Count];
        for (var i = 0; i < made.Length; i++)
        {
            var c = stream.Cases[i];
            made[i] = new TaskCompletionSource<Expert>(TaskCreationOptions.RunContinuationsAsynchronously);
            into.Add(Sha256Hex.Of(File.ReadAllBytes(stream.ImagePath(c.Edit.Image))), c.Edit.Prompt, c.Edit.Target, made[i].Task);
        }
        var next = -1;
        return Task.WhenAll(generators.Select(g => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < made.Length)
            {
                var c = stream.Cases[i];
                try
                {
                    // The worker's own road: the stored PNG decoded and brought to the model's input, then generated.
                    var started = Stopwatch.GetTimestamp();
                    var image = g.ReadImage(File.ReadAllBytes(stream.ImagePath(c.Edit.Image)));
                    var expert = await g.GenerateAsync(image, c.Edit.Prompt, c.Edit.Target, ct);
                    if (store is not null)
                    {
                        try
                        {
                            await store.PutAsync(expert.ToBytes(), ct);
                        }
                        catch (Exception e) when (e is not OperationCanceledException)
                        {
                            // Not stored ahead: the worker stores it itself, as it does every expert.
                        }
                    }
                    Volatile.Write(ref madeAt[i], Stopwatch.GetTimestamp());
                    Timings.Since(ReplayPhase.GeneratingAhead, started);
                    made[i].SetResult(expert);
                }
                catch (Exception e)
                {
                    made[i].SetException(e);
                }
            }
        }, ct)));
    }

    /// <summary>
    /// Which edit of the ledger belongs to which case, and the version that activated it, read from the ledger alone.
    /// Edits whose rationale names no case of this stream are ignored.
    /// </summary>
    /// <exception cref="ReplayException">A case has no edit, two edits, or an edit that never became active.</exception>
    public async Task<ReplayedEdits> ReadAsync(EditLedger ledger, CancellationToken ct = default)
    {
        var caseIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < stream.Cases.Count; i++) caseIndex[RationaleOf(stream.Cases[i])] = i;
        var ids = new Guid?[stream.Cases.Count];
        var versions = new long[stream.Cases.Count];
        var hashes = new string[stream.Cases.Count];
        var started = Stopwatch.GetTimestamp();
        const int page = 10_000;
        for (var skip = 0; ; skip += page)
        {
            var summaries = await ledger.ListEditsAsync(null, skip, page, ct);
            foreach (var s in summaries)
            {
                if (!caseIndex.TryGetValue(s.Rationale, out var i)) continue;
                if (ids[i] is not null) throw new ReplayException($"case {stream.Cases[i].Id} has two edits in the ledger ({ids[i]} and {s.Id}); replay on a fresh ledger");
                if (s.ActivatedAtVersion is not { } version || s.ExpertSha256 is null)
                    throw new ReplayException($"the edit {s.Id} of case {stream.Cases[i].Id} never became active ({s.Status})");
                ids[i] = s.Id;
                versions[i] = version;
                hashes[i] = s.ExpertSha256;
            }
            if (summaries.Count < page) break;
        }
        for (var i = 0; i < ids.Length; i++)
        {
            if (ids[i] is null) throw new ReplayException($"case {stream.Cases[i].Id} of {stream.Manifest.Name} has no edit in this ledger");
        }
        Timings.Since(ReplayPhase.ReadingTheLedger, started);
        return new ReplayedEdits(ids.Select(id => id!.Value).ToArray(), versions, hashes);
    }

    /// <summary>
    /// Lifelong metrics at each checkpoint (an edit count) from the ledger's active set as of the version that
    /// activated that many edits; at most <paramref name="maxEval"/> of the active cases measured (evenly spaced).
    /// <paramref name="transport"/> is only recorded in run.json. Checkpoints <paramref name="early"/> evaluated during the
    /// replay, as of the same version, are taken as they are (the same computation on the same inputs, so the same bytes).
    /// With <paramref name="replayed"/>, the run that proposed the edits, its edits and versions must be the ledger's.
    /// </summary>
    /// <exception cref="ReplayException">A case has no active edit in the ledger, or the run saw another edit or version than the ledger records.</exception>
    public async Task<ReplayResults> EvaluateAsync(EditLedger ledger, ModelRuntime runtime, IReadOnlyList<int> checkpoints, int maxEval, string transport,
        Action<string>? log = null, CancellationToken ct = default, IReadOnlyList<int>? chunkSizes = null, EarlyCheckpoints? early = null, ReplayRun? replayed = null)
    {
        var edits = await ReadAsync(ledger, ct);
        if (replayed is not null) CheckAgainstLedger(replayed, edits);
        var caseOf = new Dictionary<Guid, int>();
        for (var i = 0; i < edits.EditIds.Count; i++) caseOf[edits.EditIds[i]] = i;
        var samples = StreamSamples.From(stream, runtime.Model);
        var evaluation = new EditorEvaluation(runtime.Model, runtime.Editor, samples);
        var answers = new StringBuilder();
        var rows = new List<EditMetrics>();
        var experts = new Dictionary<string, Expert>(StringComparer.Ordinal);
        var waiting = Stopwatch.GetTimestamp();
        var done = early is null ? new Dictionary<int, CheckpointResult>() : await early.ResultsAsync(ct);
        if (early is not null) Timings.Since(ReplayPhase.WaitingForEarlyCheckpoints, waiting);
        var points = checkpoints.Where(k => k >= 1 && k <= stream.Cases.Count).Distinct().Order().ToList();
        foreach (var k in points)
        {
            var version = edits.ActivatedAtVersions[k - 1];
            if (done.TryGetValue(k, out var result) && result.Version == version) early!.Taken++;
            else
            {
                var started = Stopwatch.GetTimestamp();
                result = await EvaluateCheckpointAsync(ledger, runtime, evaluation, samples, k, version, caseOf, maxEval, experts, ct);
                Timings.Checkpoint(k, during: false, Stopwatch.GetElapsedTime(started));
            }
            log?.Invoke(EditorEvaluation.Describe(result.Metrics));
            answers.Append(result.Answers);
            rows.Add(result.Metrics);
        }

        // The paper's protocol (chunks of T edits applied, the chunk tested, reset) from the same ledger: each case's
        // expert is the one the ledger recorded for its edit, read back from the blob store.
        var sizes = (chunkSizes ?? []).Where(t => t >= 1 && t <= stream.Cases.Count).Distinct().Order().ToList();
        if (sizes.Count > 0)
        {
            var byCase = new Expert[stream.Cases.Count];
            for (var i = 0; i < byCase.Length; i++)
            {
                if (edits.ExpertSha256s[i] is null) throw new ReplayException($"case {stream.Cases[i].Id} has no expert in the ledger");
            }
            await ReadExpertsAsync(ledger, edits.ExpertSha256s, experts, ct);
            for (var i = 0; i < byCase.Length; i++) byCase[i] = experts[edits.ExpertSha256s[i]];
            var fromLedger = new EditorEvaluation(runtime.Model, runtime.Editor, samples) { ExpertSource = i => byCase[i] };
            foreach (var t in sizes)
            {
                var started = Stopwatch.GetTimestamp();
                var metrics = await runtime.RunAsync(() => fromLedger.Chunks(t, maxEval) with { Protocol = $"chunks T={t} (ledger experts)" }, ct);
                Timings.Since(ReplayPhase.EvaluatingAfter, started);
                log?.Invoke(EditorEvaluation.Describe(metrics));
                rows.Add(metrics);
            }
        }

        var hashes = new StringBuilder("case\texpert_sha256\tactivated_at_version\n");
        for (var i = 0; i < stream.Cases.Count; i++)
            hashes.Append(stream.Cases[i].Id).Append('\t').Append(edits.ExpertSha256s[i]).Append('\t').Append(edits.ActivatedAtVersions[i]).Append('\n');
        var run = JsonSerializer.Serialize(new
        {
            stream = stream.Manifest.Name,
            cases = stream.Cases.Count,
            checkpoints,
            chunks = sizes,
            transport,
            baseModelSha256 = runtime.Model.WeightsSha256,
            generatorSha256 = runtime.Editor.GeneratorSha256,
            threads = runtime.Threads,
        }, new JsonSerializerOptions { WriteIndented = true }) + "\n";
        return new ReplayResults(rows, EditorEvaluation.Markdown(rows), EditorEvaluation.Json(rows, null), hashes.ToString(), run, answers.ToString());
    }

    /// <summary>
    /// The edits and activation versions the replay saw (some from the worker's notices) must be the ones the ledger records
    /// for each case: a notice never decides a result file, and one that disagreed with the ledger stops the run.
    /// </summary>
    private void CheckAgainstLedger(ReplayRun run, ReplayedEdits edits)
    {
        if (run.EditIds.Count != edits.EditIds.Count)
            throw new ReplayException($"the replay proposed {run.EditIds.Count} edits, the ledger holds {edits.EditIds.Count} of {stream.Manifest.Name}");
        for (var i = 0; i < run.EditIds.Count; i++)
        {
            if (run.EditIds[i] != edits.EditIds[i] || run.ActivatedAtVersions[i] != edits.ActivatedAtVersions[i])
                throw new ReplayException($"case {stream.Cases[i].Id}: the replay saw edit {run.EditIds[i]} active at v{run.ActivatedAtVersions[i]}, " +
                    $"the ledger records edit {edits.EditIds[i]} activated at v{edits.ActivatedAtVersions[i]}");
        }
    }

    /// <summary>One checkpoint's metrics row and its lines of answers.jsonl, as of ledger version <paramref name="version"/>.</summary>
    /// <param name="caseOf">The case of each edit of the stream (at least of every edit active at the version).</param>
    /// <param name="experts">Experts read so far, by SHA-256 (filled from the blob store as needed).</param>
    internal async Task<CheckpointResult> EvaluateCheckpointAsync(EditLedger ledger, ModelRuntime runtime, EditorEvaluation evaluation,
        IReadOnlyList<EditSample> samples, int k, long version, IReadOnlyDictionary<Guid, int> caseOf, int maxEval, Dictionary<string, Expert> experts,
        CancellationToken ct)
    {
        var reading = Stopwatch.GetTimestamp();
        var set = await ledger.GetActiveExpertsAsync(version, ct);
        Timings.Since(ReplayPhase.ActiveSetReads, reading);
        var expertOfCase = new Dictionary<int, string>();
        foreach (var a in set.Experts)
        {
            if (!caseOf.TryGetValue(a.EditId, out var i)) throw new ReplayException($"the ledger's active set at v{version} holds edit {a.EditId}, which is no case of {stream.Manifest.Name}");
            expertOfCase[i] = a.ExpertSha256;
        }
        await ReadExpertsAsync(ledger, set.Experts.Select(a => a.ExpertSha256).ToList(), experts, ct);
        var answers = new StringBuilder();
        evaluation.Audit = audit => answers.Append(AnswerLine(k, version, audit, expertOfCase)).Append('\n');
        try
        {
            var metrics = await runtime.RunAsync(() =>
            {
                using var edited = new EditedModel(runtime.Model, runtime.Editor);
                var active = new List<int>();
                foreach (var a in set.Experts)
                {
                    var i = caseOf[a.EditId];
                    edited.Add(EditorEvaluation.ExpertId(samples[i]), experts[a.ExpertSha256], i);
                    active.Add(i);
                }
                active.Sort();
                var measured = active.Count <= maxEval ? active : Enumerable.Range(0, maxEval).Select(j => active[(int)((long)j * active.Count / maxEval)]).ToList();
                return evaluation.Measure(edited, measured, $"lifelong@{k} (ledger v{version})") with { Edits = k };
            }, ct);
            return new CheckpointResult(k, version, metrics, answers.ToString());
        }
        finally
        {
            evaluation.Audit = null;
        }
    }

    /// <summary>
    /// Reads the experts of <paramref name="sha256s"/> not in <paramref name="experts"/> yet from the blob store, in batches
    /// (one query per <see cref="LiveEdit.Ledger.Blobs.BlobStore.BatchSize"/>), each verified against its hash.
    /// </summary>
    /// <exception cref="LiveEdit.Ledger.Errors.LedgerException">A blob is missing or corrupt.</exception>
    private async Task ReadExpertsAsync(EditLedger ledger, IReadOnlyList<string> sha256s, Dictionary<string, Expert> experts, CancellationToken ct)
    {
        var wanted = sha256s.Where(sha => !experts.ContainsKey(sha)).Distinct(StringComparer.Ordinal).ToList();
        if (wanted.Count == 0) return;
        var started = Stopwatch.GetTimestamp();
        var read = await ledger.Blobs.GetManyWithRetriesAsync(wanted, ct);
        Timings.Since(ReplayPhase.BlobReads, started);
        foreach (var sha in wanted)
        {
            var blob = read[sha];
            if (blob.Problem is { } problem) throw problem;
            experts[sha] = Expert.FromBytes(blob.Bytes!);
        }
    }

    /// <summary>
    /// One line of answers.jsonl: a case measured at a checkpoint, query by query, the experts that fired named by their
    /// case and expert SHA-256 (not the edit id, which is random: the file stays the same bytes on every fresh ledger).
    /// </summary>
    /// <param name="expertOfCase">The expert SHA-256 of every case active at the version (the ledger's record of its edit).</param>
    private string AnswerLine(int checkpoint, long version, CaseAudit audit, IReadOnlyDictionary<int, string> expertOfCase)
    {
        object Fired(FiredExpert f)
        {
            var known = f.Order >= 0 && f.Order < stream.Cases.Count;
            return new { @case = known ? stream.Cases[(int)f.Order].Id : null, expertSha256 = known ? expertOfCase.GetValueOrDefault((int)f.Order) : null, weight = f.Weight };
        }
        return JsonSerializer.Serialize(new
        {
            checkpoint,
            version,
            @case = stream.Cases[audit.Case].Id,
            queries = audit.Queries.Select(q => new { kind = q.Kind, prompt = q.Prompt, expected = q.Expected, score = q.Score, answer = q.Answer, fired = q.Fired.Select(Fired).ToList() }),
        });
    }

    private MultipartFormDataContent ProposalForm(BenchCase c, Guid? supersedes)
    {
        var path = stream.ImagePath(c.Edit.Image);
        var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(File.ReadAllBytes(path)) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", Path.GetFileName(path) },
            { new StringContent(c.Edit.Prompt), "prompt" },
            { new StringContent(c.Edit.Target), "target" },
            { new StringContent(RationaleOf(c)), "rationale" },
            { new StringContent(string.Join(',', c.Tags)), "tags" },
        };
        if (supersedes is { } s) form.Add(new StringContent(s.ToString()), "supersedes");
        return form;
    }

    /// <summary>
    /// Waits until the edit is active: <paramref name="recorded"/>, the worker's notice, ends the wait when it brings the
    /// version that activated the edit, and otherwise cuts the current pause short; else the edit is read over HTTP until it is.
    /// </summary>
    /// <returns>The version that activated the edit, and whether the wait ended on the worker's notice.</returns>
    private static async Task<(long Version, bool ByNotice)> WaitUntilActiveAsync(HttpClient auditor, Guid id, TimeSpan patience, Task<long?>? recorded, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + patience;
        // With the worker's notice to wake on, polls are only a fallback: fewer of them leave the cores to the worker and the ledger.
        var pause = TimeSpan.FromMilliseconds(recorded is null ? 2 : 50);
        var byNotice = false;
        // Without a notice to wait for, the first read is at once. With one, the first read waits for it (or the first pause):
        // a read at once finds the edit only approved, and costs the host and the ledger a read while the worker records.
        var first = recorded is null;
        while (true)
        {
            if (!first)
            {
                // Short waits first: most experts are ready within milliseconds, and a fixed 100 ms wait per edit was most of a replay's time.
                var delay = Task.Delay(pause, ct);
                if (recorded is not null && await Task.WhenAny(recorded, delay) == recorded)
                {
                    // The append that recorded the expert activated the edit and is committed: nothing to read.
                    if (await recorded is { } activated) return (activated, true);
                    // Read at once; a notice without activation (the edit not approved yet) leaves only the polls.
                    recorded = null;
                    byNotice = true;
                }
                else
                {
                    await delay;
                    byNotice = false;
                    pause = TimeSpan.FromMilliseconds(Math.Min(100, pause.TotalMilliseconds * 2));
                }
            }
            first = false;
            var edit = await SendAsync(auditor, HttpMethod.Get, $"/edits/{id}", null, ct);
            var status = edit["edit"]?["status"]?.GetValue<string>() ?? "";
            if (status.Equals("active", StringComparison.OrdinalIgnoreCase)) return (edit["edit"]!["activatedAtVersion"]!.GetValue<long>(), byNotice);
            if (status.Equals("failed", StringComparison.OrdinalIgnoreCase))
                throw new ReplayException($"edit {id} can never become active: {LiveEdit.Model.Text.Printable.Excerpt(edit["edit"]?["reason"]?.GetValue<string>() ?? "no reason recorded", 200)}");
            if (DateTime.UtcNow > deadline) throw new ReplayException($"edit {id} is still '{status}' after {patience.TotalSeconds:0} s");
        }
    }

    private static HttpClient Client(Uri host, string key)
    {
        var client = new HttpClient { BaseAddress = host, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }

    private static async Task<JsonNode> SendAsync(HttpClient client, HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new ReplayException($"cannot reach the inference host at {client.BaseAddress} ({e.Message})");
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
                throw new ReplayException(string.Create(CultureInfo.InvariantCulture, $"{method} {path}: {(int)response.StatusCode} {text}"));
            return JsonNode.Parse(text) ?? throw new ReplayException($"{method} {path}: empty response");
        }
    }
}
