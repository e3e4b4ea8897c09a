using System.Globalization;
using System.Text.Json.Nodes;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class signing_checkpoints(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private LedgerCheckpoints _checkpoints = null!;
    private CheckpointSigner _signer = null!;
    private CheckpointPublicKey _publicKey = null!;
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("liveedit-checkpoints-");

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        _checkpoints = new LedgerCheckpoints(_t.Ledger);
        _signer = CheckpointSigner.FromPem(CheckpointKeys.Generate().PrivatePem, "the test key");
        _publicKey = CheckpointPublicKey.FromPem(_signer.PublicKeyPem, "the test key");
        await _t.ActiveEditAsync();
        await _t.ActiveEditAsync();
    }

    public async Task DisposeAsync()
    {
        _signer.Dispose();
        _publicKey.Dispose();
        _folder.Delete(recursive: true);
        await _t.DisposeAsync();
    }

    private async Task<LedgerCheckpoint> CheckpointAsync()
    {
        var checkpoint = await _checkpoints.CreateAsync(_signer);
        (await LedgerCheckpoints.WriteAsync(checkpoint, _folder.FullName)).AlreadyExisted.ShouldBeFalse();
        return checkpoint;
    }

    private Task<CheckpointVerification> VerifyAsync() => _checkpoints.VerifyCheckpointsAsync(_folder.FullName, _publicKey);

    private async Task EditFileAsync(LedgerCheckpoint checkpoint, Action<JsonObject> edit, string? saveAs = null)
    {
        var path = Path.Combine(_folder.FullName, checkpoint.FileName);
        var json = JsonNode.Parse(await File.ReadAllTextAsync(path))!.AsObject();
        edit(json);
        if (saveAs is not null) path = Path.Combine(_folder.FullName, saveAs);
        await File.WriteAllTextAsync(path, json.ToJsonString());
    }

    [Fact]
    public async Task a_fresh_checkpoint_of_the_chain_head_verifies()
    {
        var head = await _t.Ledger.GetHeadAsync();
        var checkpoint = await CheckpointAsync();

        checkpoint.Sequence.ShouldBe(head);
        checkpoint.ChainHash.ShouldBe(await _t.ScalarAsync<string>($"select record_hash from {{schema}}.ledger_chain where seq_id = {head}"));
        checkpoint.EventsChained.ShouldBe(await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_chain"));
        checkpoint.KeyId.ShouldBe(_publicKey.KeyId);
        checkpoint.FileName.ShouldBe($"checkpoint-{_t.Schema}-{head}.json");
        checkpoint.NotaryLine.ShouldContain($"sequence {head}, chain hash {checkpoint.ChainHash}");
        LedgerCheckpoint.Parse(await File.ReadAllTextAsync(Path.Combine(_folder.FullName, checkpoint.FileName))).ShouldBe(checkpoint);

        await _t.ActiveEditAsync(); // the ledger grows past the checkpoint: it still extends it
        var result = await VerifyAsync();

        result.IsIntact.ShouldBeTrue(string.Join("; ", result.Problems.Select(p => p.Message)));
        result.Verified.ShouldHaveSingleItem().Sequence.ShouldBe(head);
    }

    [Fact]
    public async Task the_same_head_is_never_written_twice_and_an_existing_file_is_kept()
    {
        var first = await CheckpointAsync();
        var second = await _checkpoints.CreateAsync(_signer, first.Time.AddMinutes(1));

        var written = await LedgerCheckpoints.WriteAsync(second, _folder.FullName);

        written.AlreadyExisted.ShouldBeTrue();
        LedgerCheckpoint.Parse(await File.ReadAllTextAsync(written.Path)).ShouldBe(first);
        _folder.GetFiles().ShouldHaveSingleItem();
    }

    [Fact]
    public async Task an_edited_checkpoint_fails_its_signature_and_every_edited_file_is_named()
    {
        var checkpoint = await CheckpointAsync();
        var otherHash = await _t.ScalarAsync<string>($"select record_hash from {{schema}}.ledger_chain where seq_id = {checkpoint.Sequence - 1}");
        await EditFileAsync(checkpoint, j => j["chainHash"] = otherHash, "checkpoint-hash-edited.json");
        await EditFileAsync(checkpoint, j => j["sequence"] = checkpoint.Sequence - 1, "checkpoint-sequence-edited.json");
        await EditFileAsync(checkpoint, j => j["time"] = LedgerCheckpoint.FormatTime(checkpoint.Time.AddDays(-1)), "checkpoint-time-edited.json");

        var result = await VerifyAsync();

        result.IsIntact.ShouldBeFalse();
        result.Verified.ShouldHaveSingleItem().Sequence.ShouldBe(checkpoint.Sequence);
        result.Problems.Select(p => (p.File, p.Sequence, p.Kind)).ShouldBe(new (string, long?, CheckpointProblemKind)[]
        {
            ("checkpoint-hash-edited.json", checkpoint.Sequence, CheckpointProblemKind.SignatureInvalid),
            ("checkpoint-sequence-edited.json", checkpoint.Sequence - 1, CheckpointProblemKind.SignatureInvalid),
            ("checkpoint-time-edited.json", checkpoint.Sequence, CheckpointProblemKind.SignatureInvalid),
        });
    }

    [Fact]
    public async Task a_checkpoint_signed_by_another_key_is_refused_even_when_it_claims_the_right_key()
    {
        using var mallory = CheckpointSigner.FromPem(CheckpointKeys.Generate().PrivatePem, "another key");
        var head = await _checkpoints.ReadHeadAsync();
        var forged = mallory.Sign(_t.Schema, head!.Sequence, head.RecordHash, head.EntriesUpTo, DateTimeOffset.UtcNow);
        await LedgerCheckpoints.WriteAsync(forged, _folder.FullName);
        var claimingOurKey = forged with { KeyId = _publicKey.KeyId };
        claimingOurKey = claimingOurKey with { Signature = mallory.Sign(claimingOurKey.CanonicalBytes()) };
        await File.WriteAllTextAsync(Path.Combine(_folder.FullName, "claims-our-key.json"), claimingOurKey.ToJson());

        var result = await VerifyAsync();

        result.Verified.ShouldBeEmpty();
        result.Problems.Select(p => (p.File, p.Kind)).ShouldBe(new[]
        {
            (forged.FileName, CheckpointProblemKind.OtherKey),
            ("claims-our-key.json", CheckpointProblemKind.SignatureInvalid),
        });
        result.Problems[0].Message.ShouldContain(mallory.KeyId[..16]);
    }

    [Fact]
    public async Task files_that_are_not_checkpoints_are_reported_not_skipped()
    {
        var checkpoint = await CheckpointAsync();
        await File.WriteAllTextAsync(Path.Combine(_folder.FullName, "garbage.json"), "{ not json");
        await EditFileAsync(checkpoint, j => j["extra"] = "field", "unknown-field.json");
        await EditFileAsync(checkpoint, j => j.Remove("signature"), "no-signature.json");
        await File.WriteAllTextAsync(Path.Combine(_folder.FullName, "huge.json"), new string(' ', LedgerCheckpoint.MaxFileBytes + 1));

        var result = await VerifyAsync();

        result.Verified.ShouldHaveSingleItem();
        result.Problems.Select(p => p.File).ShouldBe(["garbage.json", "huge.json", "no-signature.json", "unknown-field.json"]);
        result.Problems.ShouldAllBe(p => p.Kind == CheckpointProblemKind.Unreadable);
    }

    [Fact]
    public async Task an_empty_folder_is_a_problem_and_a_missing_one_an_error()
    {
        var result = await VerifyAsync();
        result.IsIntact.ShouldBeFalse();
        result.Problems.ShouldHaveSingleItem().Kind.ShouldBe(CheckpointProblemKind.NoCheckpoints);

        var missing = Path.Combine(_folder.FullName, "nowhere");
        (await Should.ThrowAsync<CheckpointException>(() => _checkpoints.VerifyCheckpointsAsync(missing, _publicKey)))
            .Message.ShouldContain(missing);
    }

    [Fact]
    public async Task a_database_owner_who_rewrites_an_event_and_the_whole_chain_consistently_is_caught()
    {
        var before = await CheckpointAsync();
        var victim = await _t.ProposeAsync();
        await _t.Ledger.ApproveAsync(new ApproveEdit(victim, "bob"));
        var approval = await _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{victim}' and type = '{EventTypeNames.Approved}'");
        var after = await CheckpointAsync();
        await _t.ActiveEditAsync();
        var latest = await CheckpointAsync();

        await _t.ExecuteAsync($"update {{schema}}.mt_events set data = jsonb_set(data, '{{approvedBy}}', '\"mallory\"') where seq_id = {approval}");
        await RewriteChainFromAsync(approval);

        var walk = await _t.Ledger.VerifyAsync();
        walk.IsIntact.ShouldBeTrue("the rewrite is consistent: the chain walk alone cannot see it");
        var result = await VerifyAsync();

        result.IsIntact.ShouldBeFalse();
        result.Verified.ShouldHaveSingleItem().Sequence.ShouldBe(before.Sequence);
        result.Problems.Select(p => (p.File, p.Sequence, p.Kind)).ShouldBe(new (string, long?, CheckpointProblemKind)[]
        {
            (after.FileName, after.Sequence, CheckpointProblemKind.ChainHashChanged),
            (latest.FileName, latest.Sequence, CheckpointProblemKind.ChainHashChanged),
        }, ignoreOrder: true);
        var named = result.Problems.Single(p => p.Sequence == after.Sequence).Message;
        named.ShouldContain($"rewritten at or before sequence {after.Sequence}");
        named.ShouldContain($"the last checkpoint still matching is at sequence {before.Sequence}");
    }

    [Fact]
    public async Task deleting_the_last_events_and_their_chain_entries_after_a_checkpoint_is_caught()
    {
        var kept = await CheckpointAsync();
        var doomed = await _t.ActiveEditAsync();
        var truncated = await CheckpointAsync();

        await AsSuperuserAsync($"""
            delete from {_t.Schema}.ledger_chain where seq_id in (select seq_id from {_t.Schema}.mt_events where stream_id = '{doomed}');
            delete from {_t.Schema}.mt_events where stream_id = '{doomed}';
            delete from {_t.Schema}.mt_streams where id = '{doomed}';
            delete from {_t.Schema}.mt_doc_editsummary where id = '{doomed}';
            """);

        (await _t.Ledger.VerifyAsync()).IsIntact.ShouldBeTrue("the truncation is consistent: the chain walk alone cannot see it");
        var result = await VerifyAsync();

        result.Verified.ShouldHaveSingleItem().Sequence.ShouldBe(kept.Sequence);
        var problem = result.Problems.ShouldHaveSingleItem();
        (problem.File, problem.Sequence, problem.Kind).ShouldBe((truncated.FileName, truncated.Sequence, CheckpointProblemKind.ChainEntryMissing));
        problem.Message.ShouldContain($"chain head: {kept.Sequence}");
    }

    [Fact]
    public async Task checkpoints_do_not_pass_while_the_chain_walk_itself_is_broken()
    {
        var checkpoint = await CheckpointAsync();
        await _t.ExecuteAsync($"update {{schema}}.mt_events set data = jsonb_set(data, '{{approvedBy}}', '\"mallory\"') where seq_id = {checkpoint.Sequence - 2}");

        var result = await VerifyAsync();

        result.Problems.ShouldBeEmpty("the chain entries themselves were not touched");
        result.Chain.IsIntact.ShouldBeFalse();
        result.IsIntact.ShouldBeFalse();
    }

    [Fact]
    public async Task a_broken_chain_is_never_signed()
    {
        var head = await _t.Ledger.GetHeadAsync();
        await _t.ExecuteAsync($"update {{schema}}.mt_events set data = jsonb_set(data, '{{approvedBy}}', '\"mallory\"') where seq_id = {head}");

        (await Should.ThrowAsync<CheckpointException>(() => _checkpoints.CreateAsync(_signer))).Message.ShouldContain("broken");
    }

    [Fact]
    public async Task the_schedule_writes_one_after_the_chain_grows_by_n_entries()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-01-01T00:00:00Z", CultureInfo.InvariantCulture));
        var schedule = new CheckpointSchedule(_checkpoints, _signer, _folder.FullName, everyEntries: 3, every: null, clock);

        (await schedule.WriteIfDueAsync()).ShouldNotBeNull("the chain holds 8 entries and none was checkpointed");
        (await schedule.WriteIfDueAsync()).ShouldBeNull();
        await _t.ProposeAsync();
        await _t.ProposeAsync();
        (await schedule.WriteIfDueAsync()).ShouldBeNull("two entries are fewer than three");
        await _t.ProposeAsync();
        var written = await schedule.WriteIfDueAsync();

        written.ShouldNotBeNull();
        Path.GetFileName(written.Path).ShouldBe($"checkpoint-{_t.Schema}-{await _t.Ledger.GetHeadAsync()}.json");
        _folder.GetFiles("*.json").Length.ShouldBe(2);
        (await VerifyAsync()).IsIntact.ShouldBeTrue();

        var restarted = new CheckpointSchedule(_checkpoints, _signer, _folder.FullName, everyEntries: 3, every: null, clock);
        (await restarted.WriteIfDueAsync()).ShouldBeNull("a restarted writer resumes from the newest file");
    }

    [Fact]
    public async Task the_schedule_writes_one_after_the_time_passes_only_if_the_chain_grew()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-01-01T00:00:00Z", CultureInfo.InvariantCulture));
        var schedule = new CheckpointSchedule(_checkpoints, _signer, _folder.FullName, everyEntries: 0, every: TimeSpan.FromMinutes(10), clock);

        (await schedule.WriteIfDueAsync()).ShouldBeNull("ten minutes have not passed");
        clock.Now = clock.Now.AddMinutes(10);
        (await schedule.WriteIfDueAsync()).ShouldNotBeNull();
        clock.Now = clock.Now.AddMinutes(30);
        (await schedule.WriteIfDueAsync()).ShouldBeNull("nothing was appended since");
        await _t.ProposeAsync();
        var written = await schedule.WriteIfDueAsync();

        written.ShouldNotBeNull();
        LedgerCheckpoint.Parse(await File.ReadAllTextAsync(written.Path)).Time.ShouldBe(clock.Now);
    }

    private async Task RewriteChainFromAsync(long from) =>
        (await ChainRewriter.RewriteFromAsync(_t.ConnectionString, _t.Schema, from, TestLedger.ChainKey)).ShouldBeGreaterThan(1);

    private Task AsSuperuserAsync(string sql) => ChainRewriter.AsSuperuserAsync(_t.ConnectionString, sql);

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
