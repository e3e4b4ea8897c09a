using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Policies;
using LiveEdit.Ledger.Versions;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// The routing policy in force is a chained event on the ledger's own stream: versioned like edits, read only from
/// authentic chain entries, decided under the append lock (If-Match, idempotency).
/// </summary>
[Collection(Collections.Postgres)]
public sealed class recording_the_routing_policy(PostgresFixture db) : IAsyncLifetime
{
    private static readonly RecordedRoutingPolicy Committed = new(0.75, 4, 0, 0, null);
    private static readonly RecordedRoutingPolicy Wide = new(3, 0, 0, 0, null);
    private static readonly string CommittedSha = new string('1', 64), WideSha = new string('2', 64);
    private TestLedger _t = null!;

    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());

    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task each_version_routes_with_the_policy_in_force_at_it_and_the_first_stands_for_the_versions_before()
    {
        var first = await _t.ActiveEditAsync();
        var beforeAny = await _t.Ledger.GetHeadAsync();
        (await _t.Ledger.GetRoutingPolicyAtAsync(beforeAny)).ShouldBeNull("none recorded");

        var inception = await _t.Ledger.RecordInceptionRoutingPolicyAsync(Committed, CommittedSha, "host-a", "in force before any was recorded");
        inception.Event.Inception.ShouldBeTrue();
        (await _t.Ledger.RecordInceptionRoutingPolicyAsync(Wide, WideSha, "host-b", "a second host")).Version
            .ShouldBe(inception.Version, "only the first inception is recorded");

        await _t.ActiveEditAsync();
        var set = await _t.Ledger.SetRoutingPolicyAsync(Wide, WideSha, "dana", "wider filter", expectedVersion: inception.Version);
        set.Replayed.ShouldBeFalse();
        set.Version.ShouldBe(await _t.Ledger.GetHeadAsync());
        await _t.ActiveEditAsync();

        (await _t.Ledger.GetRoutingPolicyAtAsync(beforeAny))!.Event.PolicySha256.ShouldBe(CommittedSha, "before the first event: the first event's policy");
        (await _t.Ledger.GetRoutingPolicyAtAsync(set.Version - 1))!.Event.PolicySha256.ShouldBe(CommittedSha);
        (await _t.Ledger.GetRoutingPolicyAtAsync(set.Version))!.Event.PolicySha256.ShouldBe(WideSha);
        (await _t.Ledger.GetRoutingPolicyAtAsync(await _t.Ledger.GetHeadAsync()))!.Event.SetBy.ShouldBe("dana");
        var past = await _t.Ledger.GetHeadAsync() + 1;
        await Should.ThrowAsync<VersionOutOfRangeException>(() => _t.Ledger.GetRoutingPolicyAtAsync(past));

        // Listed among the versions like an edit event, as a change of the model; never an edit.
        var versions = await _t.Ledger.ListVersionsAsync(modelChangesOnly: true);
        versions.ShouldContain(v => v.Version == set.Version && v.Change == LedgerChange.RoutingPolicySet && v.ChangesModel);
        var diff = await _t.Ledger.DiffAsync(beforeAny, await _t.Ledger.GetHeadAsync());
        diff.PolicyFrom!.Event.PolicySha256.ShouldBe(CommittedSha);
        diff.PolicyTo!.Event.PolicySha256.ShouldBe(WideSha);
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(first);
        await Should.ThrowAsync<EditNotFoundException>(() => _t.Ledger.LoadAsync(EditLedger.RoutingPolicyStreamId));
        (await _t.Ledger.VerifyAsync()).IsIntact.ShouldBeTrue("the policy stream is chained like every other");
        (await _t.Ledger.ListChainedGeneratorIdsAsync()).Count.ShouldBe(3, "one per recorded expert");
    }

    [Fact]
    public async Task a_stale_if_match_or_a_reused_idempotency_key_writes_nothing()
    {
        var first = await _t.Ledger.SetRoutingPolicyAsync(Committed, CommittedSha, "dana", "start", expectedVersion: 0);
        var head = await _t.Ledger.GetHeadAsync();
        var stale = await Should.ThrowAsync<RoutingPolicyVersionMismatchException>(() =>
            _t.Ledger.SetRoutingPolicyAsync(Wide, WideSha, "dana", "late", expectedVersion: 0));
        stale.Current.ShouldBe(first.Version);

        var request = Guid.NewGuid();
        var once = await _t.Ledger.SetRoutingPolicyAsync(Wide, WideSha, "dana", "retried", requestId: request);
        var again = await _t.Ledger.SetRoutingPolicyAsync(Wide, WideSha, "dana", "retried", requestId: request);
        again.Replayed.ShouldBeTrue();
        again.Version.ShouldBe(once.Version);
        await Should.ThrowAsync<RoutingPolicyRequestReusedException>(() =>
            _t.Ledger.SetRoutingPolicyAsync(Committed, CommittedSha, "dana", "another change, same key", requestId: request));
        (await _t.Ledger.GetHeadAsync()).ShouldBe(once.Version);
        (await _t.Ledger.ListRoutingPoliciesAsync()).Count.ShouldBe(2);
        head.ShouldBe(first.Version);

        (await Should.ThrowAsync<InvalidEditInputException>(() => _t.Ledger.SetRoutingPolicyAsync(Committed with { Band = double.NaN }, CommittedSha, "dana", "x")))
            .Parameter.ShouldBe("band");
        await Should.ThrowAsync<InvalidEditInputException>(() => _t.Ledger.SetRoutingPolicyAsync(Committed, "not a sha", "dana", "x"));
        (await Should.ThrowAsync<InvalidEditInputException>(() => _t.Ledger.SetRoutingPolicyAsync(Committed, CommittedSha, "dana", " ")))
            .Parameter.ShouldBe("reason");
    }

    [Fact]
    public async Task a_policy_event_inserted_behind_the_ledgers_back_decides_nothing()
    {
        var set = await _t.Ledger.SetRoutingPolicyAsync(Committed, CommittedSha, "dana", "start");
        // An insider copies the event with a wider margin, and adds a chain entry of their own (no chain key: a bad MAC).
        await _t.ExecuteAsync($$"""
            insert into {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            select {{set.Version + 1}}, gen_random_uuid(), stream_id, version + 1,
                   jsonb_set(jsonb_set(data, '{policy,margin}', '1000'), '{policySha256}', '"{{WideSha}}"'), type, now(), tenant_id, mt_dotnet_type, false
            from {schema}.mt_events where seq_id = {{set.Version}};
            insert into {schema}.ledger_chain (seq_id, prev_seq, prev_hash, event_id, record_hash, mac)
            select {{set.Version + 1}}, {{set.Version}}, record_hash, (select id from {schema}.mt_events where seq_id = {{set.Version + 1}}),
                   repeat('0', 64), repeat('f', 64)
            from {schema}.ledger_chain where seq_id = {{set.Version}};
            """);
        (await _t.Ledger.GetHeadAsync()).ShouldBe(set.Version + 1, "the forged entry is in the chain table");
        (await _t.Ledger.GetRoutingPolicyAtAsync(set.Version + 1))!.Event.PolicySha256.ShouldBe(CommittedSha, "only authentic entries decide");
        (await _t.Ledger.ListRoutingPoliciesAsync()).ShouldHaveSingleItem().Version.ShouldBe(set.Version);
    }
}
