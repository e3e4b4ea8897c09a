using System.Net;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// The head model follows the ledger by the ledger's own push (LISTEN/NOTIFY), not by polling: the safety poll is set to
/// an hour here, so without the push nothing would move. No query in this class asks for a minimum version unless it
/// says so: each answer is whatever the host's head model is at, and reports that version.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class following_the_ledger_by_push(PostgresFixture postgres) : HostPerClass(postgres)
{
    private Dictionary<string, string?> _settings = [];

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        _settings = Settings.InMemory(postgres, schema);
        _settings["Serving:Head:SafetyPoll"] = "01:00:00";
        // Slow to reconnect, so appends made while the listening connection is down are really missed.
        _settings["Serving:Head:ReconnectDelay"] = "00:00:02";
        return _settings;
    }

    [Fact]
    public async Task a_host_follows_activations_and_retractions_pushed_by_the_ledger_without_a_restart()
    {
        var c = Settings.Cases(1, seed: 71)[0];
        var before = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);

        var id = await Host.ProposeAsync(c);
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        var activatedAt = (await Host.Ledger.GetEditAsync(id)).ActivatedAtVersion!.Value;
        await WaitForHeadAsync(Host, activatedAt);
        var edited = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
        edited["version"]!.GetValue<long>().ShouldBeGreaterThanOrEqualTo(activatedAt);
        Fired(edited).ShouldContain(id);

        await Host.Ledger.RetractAsync(new RetractEdit(id, "dana", "wrong"));
        var retractedAt = await Host.Ledger.GetHeadAsync();
        await WaitForHeadAsync(Host, retractedAt);
        var retracted = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
        retracted["version"]!.GetValue<long>().ShouldBe(retractedAt);
        Fired(retracted).ShouldBeEmpty();
        retracted["answer"]!.ToString().ShouldBe(before["answer"]!.ToString());
    }

    [Fact]
    public async Task two_hosts_on_one_ledger_report_the_same_version_and_the_same_answers()
    {
        await using var second = await RunningHost.StartAsync(new Dictionary<string, string?>(_settings) { ["Workers:InProcess"] = "false" });
        var cases = Settings.Cases(2, seed: 72);
        var ids = new List<Guid>();
        foreach (var c in cases) ids.Add(await Host.ProposeAsync(c));
        foreach (var id in ids) await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        var head = await Host.Ledger.GetHeadAsync();
        await WaitForHeadAsync(Host, head);
        await WaitForHeadAsync(second, head);

        foreach (var c in cases)
        {
            var one = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
            var two = await second.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
            two["version"]!.GetValue<long>().ShouldBe(one["version"]!.GetValue<long>());
            one["version"]!.GetValue<long>().ShouldBe(head);
            two["answer"]!.ToString().ShouldBe(one["answer"]!.ToString());
            Fired(two).ShouldBe(Fired(one));
            two["experts"]!.ToJsonString().ShouldBe(one["experts"]!.ToJsonString(), "the same experts with the same weights");
        }
    }

    [Fact]
    public async Task a_host_whose_notifications_were_lost_catches_up_from_its_last_version()
    {
        var state = Host.App.Services.GetService(typeof(HeadFollowingState)) as HeadFollowingState;
        state.ShouldNotBeNull();
        var connections = state.Connections;
        var c = Settings.Cases(1, seed: 73)[0];
        var id = await Host.ProposeAsync(c);
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        await WaitForHeadAsync(Host, await Host.Ledger.GetHeadAsync());
        var last = Host.Server.HeadVersion;

        // The listening connection drops; the retraction commits while no one listens, so its notification is lost.
        (await TerminateListenersAsync()).ShouldBeGreaterThan(0);
        await Host.Ledger.RetractAsync(new RetractEdit(id, "dana", "wrong"));
        var retractedAt = await Host.Ledger.GetHeadAsync();
        retractedAt.ShouldBeGreaterThan(last);

        // Within 20 s, with the safety poll an hour away: caught up by the follower itself, either by the sync it runs as soon
        // as it loses the connection (the retraction may already be committed then) or by the one after reconnecting.
        await WaitForHeadAsync(Host, retractedAt);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (state.Connections <= connections && DateTime.UtcNow < deadline) await Task.Delay(20);
        state.Connections.ShouldBeGreaterThan(connections, "the follower listens again after losing its connection");
        var answer = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
        answer["version"]!.GetValue<long>().ShouldBe(retractedAt);
        Fired(answer).ShouldNotContain(id);
    }

    [Fact]
    public async Task a_host_restarted_after_missing_notifications_catches_up()
    {
        var settings = new Dictionary<string, string?>(_settings) { ["Workers:InProcess"] = "false" };
        var c = Settings.Cases(1, seed: 74)[0];
        long seen;
        await using (var stopped = await RunningHost.StartAsync(settings))
            seen = stopped.Server.HeadVersion;
        var id = await Host.ProposeAsync(c);
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        var head = await Host.Ledger.GetHeadAsync();
        head.ShouldBeGreaterThan(seen);

        await using var restarted = await RunningHost.StartAsync(settings);
        restarted.Server.HeadVersion.ShouldBeGreaterThanOrEqualTo(head, "ready only once at the ledger's head");
        var answer = await restarted.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
        answer["version"]!.GetValue<long>().ShouldBeGreaterThanOrEqualTo(head);
        Fired(answer).ShouldContain(id);
    }

    [Fact]
    public async Task every_answer_reports_the_version_whose_experts_it_used_while_edits_land()
    {
        var cases = Settings.Cases(3, seed: 75);
        var ids = new List<Guid>();
        using var stop = new CancellationTokenSource();
        var answers = new List<(int Case, JsonNode Answer)>();
        var asking = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var k = i % cases.Count;
                answers.Add((k, await Host.QueryAsync(cases[k].Edit.Image, cases[k].Edit.Prompt, readYourWrites: false)));
            }
        });
        foreach (var c in cases)
        {
            var id = await Host.ProposeAsync(c);
            ids.Add(id);
            await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        }
        await Host.Ledger.RetractAsync(new RetractEdit(ids[0], "dana", "wrong"));
        await WaitForHeadAsync(Host, await Host.Ledger.GetHeadAsync());
        await Task.Delay(300);
        await stop.CancelAsync();
        await asking;

        var activeAt = new Dictionary<long, IReadOnlySet<Guid>>();
        answers.Count.ShouldBeGreaterThan(cases.Count);
        foreach (var (k, answer) in answers)
        {
            var version = answer["version"]!.GetValue<long>();
            if (!activeAt.TryGetValue(version, out var active))
                activeAt[version] = active = (await Host.Ledger.GetActiveExpertsAsync(version)).EditIds.ToHashSet();
            Fired(answer).ShouldAllBe(e => active.Contains(e), $"an answer reporting version {version} used only experts active at it");
            // The edit's own question fires its expert whenever the expert is in the model.
            if (k < ids.Count && active.Contains(ids[k])) Fired(answer).ShouldContain(ids[k], $"version {version} holds the expert of case {k}");
        }
        answers.Select(a => a.Answer["version"]!.GetValue<long>()).Distinct().Count().ShouldBeGreaterThan(2, "the answers span several versions");
    }

    [Fact]
    public async Task min_version_beyond_the_ledger_head_is_refused_naming_the_field_and_one_at_the_head_is_served()
    {
        var head = await Host.Ledger.GetHeadAsync();
        using var client = Host.Client(RunningHost.AuditorKey);
        using (var response = await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"), ("minVersion", (head + 5).ToString()))))
        {
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity, body);
            var problem = JsonNode.Parse(body)!;
            problem["code"]!.GetValue<string>().ShouldBe("min_version_in_future");
            problem["detail"]!.GetValue<string>().ShouldContain("'minVersion'");
        }
        using (var response = await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"), ("minVersion", head.ToString()))))
        {
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, body);
            JsonNode.Parse(body)!["version"]!.GetValue<long>().ShouldBeGreaterThanOrEqualTo(head);
        }
    }

    [Fact]
    public async Task min_version_reads_your_writes_without_the_push_and_a_head_that_cannot_get_there_in_time_is_a_503()
    {
        // Two hosts that will not hear the ledger: their listening connections are cut and come back only in an hour.
        var deaf = new Dictionary<string, string?>(_settings)
        {
            ["Workers:InProcess"] = "false",
            ["Serving:Head:ReconnectDelay"] = "01:00:00",
            ["Serving:Head:MaxReconnectDelay"] = "01:00:00",
        };
        await using var patient = await RunningHost.StartAsync(deaf);
        await using var hasty = await RunningHost.StartAsync(new Dictionary<string, string?>(deaf) { ["Serving:Head:MinVersionPatience"] = "00:00:00" });
        (await TerminateListenersAsync()).ShouldBeGreaterThanOrEqualTo(2);
        foreach (var host in new[] { patient, hasty })
        {
            var state = (HeadFollowingState)host.App.Services.GetService(typeof(HeadFollowingState))!;
            while (state.Listening) await Task.Delay(20);
        }
        await Task.Delay(500); // the catch-up sync each runs on losing its connection is done

        var c = Settings.Cases(1, seed: 76)[0];
        var image = await Host.Ledger.Blobs.PutAsync(c.Edit.Image!.ToPng());
        await Host.Ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), image, c.Edit.Prompt, c.NewTarget, "test", "alice", [], null));
        var v = await Host.Ledger.GetHeadAsync();
        hasty.Server.HeadVersion.ShouldBeLessThan(v, "nothing brought the deaf host's head there");

        using (var client = hasty.Client(RunningHost.AuditorKey))
        using (var response = await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"), ("minVersion", v.ToString()))))
        {
            var body = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, body);
            JsonNode.Parse(body)!["code"]!.GetValue<string>().ShouldBe("head_behind");
            body.ShouldContain("'minVersion'");
            response.Headers.RetryAfter.ShouldNotBeNull();
        }
        var answer = await patient.QueryAsync(null, "what is the capital of ora?"); // minVersion = the ledger's head
        answer["version"]!.GetValue<long>().ShouldBeGreaterThanOrEqualTo(v, "the query itself brought the head to the version asked for");
    }

    [Fact]
    public async Task ready_names_the_head_model_at_the_ledger_head()
    {
        using var client = Host.Client(null);
        using var ready = await client.GetAsync("/health/ready");
        var body = await ready.Content.ReadAsStringAsync();
        ready.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        var head = JsonNode.Parse(body)!["checks"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "head")!;
        head["status"]!.GetValue<string>().ShouldBe("Healthy", body);
        head["description"]!.GetValue<string>().ShouldContain("pushed by the ledger");
    }

    [Fact]
    public async Task a_forged_notification_moves_no_host_past_the_ledger()
    {
        // Any role may NOTIFY any channel: the payload is a hint, the version always comes from the ledger.
        var head = await Host.Ledger.GetHeadAsync();
        await WaitForHeadAsync(Host, head);
        await using (var connection = new NpgsqlConnection(Postgres.ConnectionString))
        {
            await connection.OpenAsync();
            await using var notify = new NpgsqlCommand("select pg_notify(@channel, '999999999')", connection);
            notify.Parameters.AddWithValue("channel", Host.Ledger.HeadChannel);
            await notify.ExecuteNonQueryAsync();
        }
        await Task.Delay(500);

        Host.Server.HeadVersion.ShouldBe(head, "a notification names no version the ledger does not hold");
        var answer = await Host.QueryAsync(null, "what is the capital of ora?", readYourWrites: false);
        answer["version"]!.GetValue<long>().ShouldBe(head);
    }

    private static async Task WaitForHeadAsync(RunningHost host, long version)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (host.Server.HeadVersion < version)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the head model is at {host.Server.HeadVersion}, not {version}, after 20 s (safety poll off): the push did not arrive");
            await Task.Delay(20);
        }
    }

    private async Task<int> TerminateListenersAsync()
    {
        await using var connection = new NpgsqlConnection(Postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = @name", connection);
        command.Parameters.AddWithValue("name", LedgerHeadFollower.ApplicationName(Schema));
        return (int)(long)(await command.ExecuteScalarAsync())!;
    }

    private static IReadOnlyList<Guid> Fired(JsonNode answer) => answer["experts"]!.AsArray().Select(e => e!["editId"]!.GetValue<Guid>()).ToList();
}
