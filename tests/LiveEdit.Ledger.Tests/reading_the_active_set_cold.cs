using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// A ledger that has authenticated nothing yet (a host after a restart) reads the activations and removals of a large set
/// in one query over the range they span, with their chain entries, and authenticates each; a row an insider changed in
/// that range must not change the set, and the version in force at a time is found on the time index.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class reading_the_active_set_cold(PostgresFixture db) : IAsyncLifetime
{
    // More than the ledger reads by sequence, so a cold read takes the range road.
    private const int Edits = 300;

    private TestLedger _t = null!;
    private readonly List<Guid> _ids = [];
    private readonly List<string> _experts = [];

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        var image = await _t.PutBytesAsync("one image for every edit");
        var lifecycles = new List<ActiveEditLifecycle>();
        for (var i = 0; i < Edits; i++)
        {
            var id = Guid.NewGuid();
            var expert = await _t.PutBytesAsync($"expert {i} {id}");
            _ids.Add(id);
            _experts.Add(expert);
            lifecycles.Add(new ActiveEditLifecycle(new ProposeEdit(id, image, $"What is shown in picture {i}?", $"object {i}", "bulk", "alice", ["test"]),
                new RecordExpert(id, expert, Sha256Hex.Of("generator"u8), Sha256Hex.Of("base"u8), 4, 64, "worker-1", 1, 2, 3, [1, 2, 3, 4, 5, 6])));
        }
        await _t.Ledger.AppendActiveEditsAsync(lifecycles, "bob");
        await _t.Ledger.RetractAsync(new RetractEdit(_ids[7], "carol", "wrong"));
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private Task<long> ActivationOf(Guid edit) =>
        _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{edit}' and type = '{EventTypeNames.Activated}'");

    [Fact]
    public async Task a_cold_ledger_reads_the_same_set_as_the_warm_one_at_every_version_it_is_asked()
    {
        var warm = _t.Ledger;
        var head = await warm.GetHeadAsync();
        foreach (var version in new[] { head, head / 2, await ActivationOf(_ids[0]), await ActivationOf(_ids[^1]) })
        {
            var cold = await _t.OtherProcess().GetActiveExpertsAsync(version);
            cold.Experts.ShouldBe((await warm.GetActiveExpertsAsync(version)).Experts, $"at version {version}");
        }
        (await _t.OtherProcess().GetActiveExpertsAsync()).EditIds.ShouldBe(_ids.Where((_, i) => i != 7));
    }

    [Fact]
    public async Task an_activation_an_insider_rewrote_to_another_expert_never_enters_a_cold_read()
    {
        // The superuser points two activations, one near each end of the range a cold read spans, at an expert of their own.
        var forged = await _t.PutBytesAsync("the insider's expert");
        var early = await ActivationOf(_ids[3]);
        var late = await ActivationOf(_ids[Edits - 4]);
        await _t.ExecuteAsync($$"""
            set session_replication_role = replica;
            update {schema}.mt_events set data = jsonb_set(data, '{expertSha256}', '"{{forged}}"') where seq_id in ({{early}}, {{late}});
            set session_replication_role = origin;
            """);

        var cold = await _t.OtherProcess().GetActiveExpertsAsync();

        cold.Experts.ShouldNotContain(e => e.ExpertSha256 == forged);
        cold.EditIds.ShouldNotContain(_ids[3]);
        cold.EditIds.ShouldNotContain(_ids[Edits - 4]);
        cold.EditIds.Count.ShouldBe(Edits - 3, "every other activation is authentic and read");
        cold.Experts.Select(e => e.ExpertSha256).ShouldBe(_experts.Where((_, i) => i is not (3 or 7 or Edits - 4)));
        var breaks = (await _t.Ledger.VerifyAsync()).Breaks.Where(b => b.Kind == ChainBreakKind.RecordAltered).Select(b => b.Version);
        breaks.ShouldBe([early, late]);
    }

    [Fact]
    public async Task the_version_at_a_time_is_the_last_chained_event_at_or_before_it()
    {
        var versions = await _t.Ledger.ListVersionsAsync(0, 100_000);
        foreach (var v in new[] { versions[0], versions[versions.Count / 2], versions[^1] })
        {
            var at = await _t.OtherProcess().GetVersionAtAsync(v.Timestamp);
            at.ShouldBe(versions.Where(x => x.Timestamp <= v.Timestamp).Max(x => x.Version));
        }
        await Should.ThrowAsync<Errors.VersionBeforeFirstEventException>(() => _t.Ledger.GetVersionAtAsync(versions[0].Timestamp.AddMinutes(-1)));
    }

    [Fact]
    public async Task a_row_nobody_chained_at_the_end_of_time_does_not_become_the_version_at_that_time()
    {
        var head = await _t.Ledger.GetHeadAsync();
        // An insider adds an event after the head, without a chain entry: it is the latest row by time and by sequence.
        await _t.ExecuteAsync($$"""
            insert into {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            select nextval('{schema}.mt_events_sequence'), gen_random_uuid(), stream_id, version + 1, data, type, now() + interval '1 minute', tenant_id, mt_dotnet_type, false
            from {schema}.mt_events where seq_id = {{head}};
            """);

        (await _t.OtherProcess().GetVersionAtAsync(DateTimeOffset.UtcNow.AddHours(1))).ShouldBe(head);
    }
}
