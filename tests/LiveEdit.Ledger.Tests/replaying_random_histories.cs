using CsCheck;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// Random propose/approve/reject/generate/activate/retract sequences across several edits. After every
/// step, the active set at every earlier version must still equal what a plain in-memory model of the
/// rules says, and as-of-timestamp must agree with as-of-sequence.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class replaying_random_histories(PostgresFixture db) : IAsyncLifetime
{
    private const int Edits = 3;
    // Weighted kinds: proposals, approvals and experts are common so that edits do reach the model.
    private static readonly int[] KindByDraw = [0, 0, 0, 1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 2, 4, 1];
    private int _activations, _removals;
    private static readonly string[] Actors = ["alice", "bob", "carol"];
    private TestLedger _t = null!;
    private readonly Guid[] _ids = Enumerable.Range(0, Edits).Select(_ => Guid.NewGuid()).ToArray();
    private string _image = "";
    private readonly Dictionary<Guid, RecordExpert> _experts = [];

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        _image = await _t.PutBytesAsync("the image");
        foreach (var id in _ids) _experts[id] = await _t.ExpertCommandAsync(id);
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    // (kind, edit, actor, supersedes): kind 0 propose, 1 approve, 2 reject, 3 generate, 4 activate, 5 retract;
    // supersedes < 0 (most draws) means none.
    private static readonly Gen<(int Kind, int Edit, int Actor, int Supersedes)[]> Histories =
        Gen.Select(Gen.Int[0, KindByDraw.Length - 1].Select(d => KindByDraw[d]), Gen.Int[0, Edits - 1], Gen.Int[0, Actors.Length - 1], Gen.Int[-12, Edits - 1]).Array[10, 40];

    [Fact]
    public async Task every_past_version_matches_the_model_after_every_step()
    {
        // The samples must have exercised the interesting paths, or this test proves little. Only about one
        // random history in five removes an expert (it needs a proposal, an approval by someone else and an
        // expert on one edit, then a retraction or supersession), so a fixed 15 samples missed every removal
        // in about 5 % of runs. Draw further fresh histories, each checked in full, until the samples have
        // covered those paths; a generator or model that cannot reach them still fails, after MaxSamples
        // (0.82^150 ≈ 1e-13 by chance).
        const int MinSamples = 15, Batch = 5, MaxSamples = 150;
        var samples = 0;
        while (samples < MinSamples || (_activations < 3 || _removals == 0) && samples < MaxSamples)
        {
            var iter = samples < MinSamples ? MinSamples : Batch;
            await Histories.SampleAsync(RunAsync, iter: iter, threads: 1, seed: null,
                print: h => string.Join(" ", h.Select(o => $"{"PARGCX"[o.Kind]}{o.Edit}/{o.Actor}/{o.Supersedes}")));
            samples += iter;
        }
        _activations.ShouldBeGreaterThanOrEqualTo(3, $"activations over {samples} random histories");
        _removals.ShouldBeGreaterThan(0, $"removals over {samples} random histories");
        Console.WriteLine($"{samples} histories: {_activations} activations, {_removals} removals");
    }

    private async Task RunAsync((int Kind, int Edit, int Actor, int Supersedes)[] history)
    {
        await _t.ExecuteAsync("truncate {schema}.mt_events, {schema}.mt_streams, {schema}.mt_doc_editsummary, {schema}.ledger_chain");
        var model = new Model();
        var expectations = new List<(long Version, Guid[] Active)>();

        foreach (var (kind, index, actor, supersedesIndex) in history)
        {
            var id = _ids[index];
            Guid? supersedes = supersedesIndex >= 0 && supersedesIndex != index ? _ids[supersedesIndex] : null;
            var expected = model.Apply(kind, id, Actors[actor], supersedes);
            var headBefore = await _t.Ledger.GetHeadAsync();
            string outcome;
            try
            {
                await (kind switch
                {
                    0 => _t.Ledger.ProposeAsync(new ProposeEdit(id, _image, "prompt", "target", "", Actors[actor], null, supersedes)),
                    1 => _t.Ledger.ApproveAsync(new ApproveEdit(id, Actors[actor])),
                    2 => _t.Ledger.RejectAsync(new RejectEdit(id, Actors[actor], "no")),
                    3 => _t.Ledger.RecordExpertAsync(_experts[id]),
                    4 => _t.Ledger.ActivateAsync(new ActivateEdit(id)),
                    _ => _t.Ledger.RetractAsync(new RetractEdit(id, Actors[actor], "bad")),
                });
                outcome = "ok";
            }
            catch (LedgerException e)
            {
                outcome = e.Code;
            }
            outcome.ShouldBe(expected, $"op {"PARGCX"[kind]} on edit {index}");
            var head = await _t.Ledger.GetHeadAsync();
            if (outcome != "ok") head.ShouldBe(headBefore, "a refused command must not append");
            else
            {
                var previous = expectations.Count > 0 ? expectations[^1].Active : [];
                _activations += model.Active.Except(previous).Count();
                _removals += previous.Except(model.Active).Count();
                expectations.Add((head, model.Active.ToArray()));
            }

            // Every earlier version, as of sequence and as of its timestamp.
            var versions = (await _t.Ledger.ListVersionsAsync(limit: 10_000)).ToDictionary(v => v.Version);
            foreach (var (version, active) in expectations)
            {
                (await _t.Ledger.GetActiveExpertsAsync(version)).EditIds.ShouldBe(active, $"as of version {version}");
                (await _t.Ledger.GetActiveExpertsAsync(versions[version].Timestamp)).EditIds.ShouldBe(active, $"as of the time of version {version}");
            }
        }
        // Every sequence number, not only those that end a command: the SQL answer equals a fold of the versions list.
        // The active road (sequences from its index, remembered authenticated events) also equals the scan it replaced,
        // run here as SQL over the chained rows, and a fresh ledger that has remembered nothing yet.
        var all = await _t.Ledger.ListVersionsAsync(limit: 10_000);
        var folded = new List<Guid>();
        var fresh = _t.OtherProcess();
        foreach (var v in all)
        {
            if (v.Change == Versions.LedgerChange.Activated) folded.Add(v.EditId);
            if (v.Change is Versions.LedgerChange.Retracted or Versions.LedgerChange.Superseded) folded.Remove(v.EditId);
            var road = await _t.Ledger.GetActiveExpertsAsync(v.Version);
            road.EditIds.ShouldBe(folded, $"at sequence {v.Version}");
            road.Experts.ShouldBe(await ScanAsync(v.Version), $"the scan at sequence {v.Version}");
            (await fresh.GetActiveExpertsAsync(v.Version)).Experts.ShouldBe(road.Experts, $"a fresh ledger at sequence {v.Version}");
        }
        (await _t.Ledger.VerifyAsync()).IsIntact.ShouldBeTrue();
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldBe(model.Active);
    }

    /// <summary>The active set as the ledger computed it before its active road: every chained activation and removal up to the version, scanned.</summary>
    private async Task<List<Versions.ActiveExpert>> ScanAsync(long version)
    {
        await using var connection = new Npgsql.NpgsqlConnection(_t.ConnectionString);
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using (var scan = new Npgsql.NpgsqlCommand("set local enable_indexscan = off; set local enable_indexonlyscan = off; set local enable_bitmapscan = off", connection, tx))
            await scan.ExecuteNonQueryAsync();
        await using var command = new Npgsql.NpgsqlCommand($"""
            select a.seq_id, a.stream_id, a.type, a.data->>'expertSha256', a.timestamp
            from {_t.Schema}.mt_events a join {_t.Schema}.ledger_chain c on c.seq_id = a.seq_id
            where a.seq_id <= {version} and a.type in ('edit_activated', 'edit_retracted', 'edit_superseded')
            order by a.seq_id
            """, connection, tx);
        var rows = new List<(long Seq, Guid Stream, string Type, string? Expert, DateTime Timestamp)>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
                rows.Add((reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetFieldValue<DateTime>(4)));
        }
        var removed = rows.Where(r => r.Type != "edit_activated").Select(r => r.Stream).ToHashSet();
        return rows.Where(r => r.Type == "edit_activated" && r.Expert is not null && !removed.Contains(r.Stream))
            .Select(r => new Versions.ActiveExpert(r.Stream, r.Expert!, r.Seq, new DateTimeOffset(r.Timestamp, TimeSpan.Zero))).ToList();
    }

    /// <summary>The rules, written out plainly and independently of EditDecisions.</summary>
    private sealed class Model
    {
        private sealed class E
        {
            public required string Proposer;
            public Guid? Supersedes;
            public string Status = "proposed";
            public bool Approved, Expert;
        }

        private readonly Dictionary<Guid, E> _edits = [];
        public List<Guid> Active { get; } = [];

        public string Apply(int kind, Guid id, string actor, Guid? supersedes)
        {
            _edits.TryGetValue(id, out var e);
            if (kind == 0)
            {
                if (supersedes is { } s && !_edits.ContainsKey(s)) return "edit_not_found";
                if (e is not null) return "edit_already_exists";
                _edits[id] = new E { Proposer = actor, Supersedes = supersedes };
                return "ok";
            }
            if (e is null) return "edit_not_found";
            var open = e.Status is "proposed" or "approved";
            switch (kind)
            {
                case 1:
                    if (e.Approved || e.Status != "proposed") return "invalid_transition";
                    if (actor == e.Proposer) return "four_eyes_violation";
                    e.Approved = true;
                    e.Status = "approved";
                    if (e.Expert) Activate(id, e);
                    return "ok";
                case 2:
                    if (!open) return "invalid_transition";
                    e.Status = "rejected";
                    return "ok";
                case 3:
                    if (e.Expert || !open) return "invalid_transition";
                    e.Expert = true;
                    if (e.Approved) Activate(id, e);
                    return "ok";
                case 4:
                    return "invalid_transition"; // activation is automatic, so an explicit one is always late or early
                default:
                    if (e.Status is "retracted" or "rejected") return "invalid_transition";
                    e.Status = "retracted";
                    Active.Remove(id);
                    return "ok";
            }
        }

        private void Activate(Guid id, E e)
        {
            e.Status = "active";
            Active.Add(id);
            if (e.Supersedes is { } olderId && _edits[olderId] is { Status: "proposed" or "approved" or "active" } older)
            {
                older.Status = "superseded";
                Active.Remove(olderId);
            }
        }
    }
}
