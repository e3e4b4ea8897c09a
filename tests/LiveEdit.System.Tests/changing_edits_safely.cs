using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>Retries that do not duplicate, decisions on the version the caller saw, and what each role may read.</summary>
[Collection(SystemCollection.Name)]
public sealed class changing_edits_safely(PostgresFixture postgres) : HostPerClass(postgres)
{
    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema) =>
        Settings.InMemory(postgres, schema, policy: "FourEyes");

    private async Task<(HttpStatusCode Status, JsonNode? Body)> ProposeAsync(string key, string? idempotencyKey, LiveEdit.Research.World.EditCase c, string target)
    {
        using var client = Host.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/edits") { Content = RunningHost.Form(c.Edit.Image!.ToPng(), ("prompt", c.Edit.Prompt), ("target", target), ("tags", "a,b")) };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    [Fact]
    public async Task a_retried_proposal_with_the_same_idempotency_key_is_the_same_edit_and_another_body_is_409()
    {
        var c = Settings.Cases(1, seed: 31)[0];
        var key = Guid.NewGuid().ToString();
        var (firstStatus, first) = await ProposeAsync(RunningHost.ProposerKey, key, c, c.NewTarget);
        firstStatus.ShouldBe(HttpStatusCode.Accepted, first?.ToJsonString());
        var id = first!["editId"]!.GetValue<Guid>();
        await WaitForExpertAsync(id);
        var head = await Host.Ledger.GetHeadAsync();

        var (againStatus, again) = await ProposeAsync(RunningHost.ProposerKey, key, c, c.NewTarget);
        againStatus.ShouldBe(HttpStatusCode.Accepted, again?.ToJsonString());
        again!["editId"]!.GetValue<Guid>().ShouldBe(id);
        again["version"]!.GetValue<long>().ShouldBe(first["version"]!.GetValue<long>());
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head, "a retry appends nothing");
        (await Host.Ledger.ListEditsAsync()).Count.ShouldBe(1);

        // A retry after the edit was approved still gets the first answer, not the edit's later state.
        using (var approver = Host.Client(RunningHost.ApproverKey))
            (await approver.PostAsync($"/edits/{id}/approve", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var (_, late) = await ProposeAsync(RunningHost.ProposerKey, key, c, c.NewTarget);
        late!["version"]!.GetValue<long>().ShouldBe(first["version"]!.GetValue<long>());
        late["status"]!.GetValue<string>().ShouldBe("proposed");

        var otherTarget = Settings.Cases(8, seed: 77).Select(x => x.NewTarget).First(t => t != c.NewTarget); // another word the model knows
        var (otherStatus, other) = await ProposeAsync(RunningHost.ProposerKey, key, c, otherTarget);
        otherStatus.ShouldBe(HttpStatusCode.Conflict);
        other!["code"]!.GetValue<string>().ShouldBe("idempotency_key_reused");

        // The key is the caller's: another user's same key is another edit; no key, a new edit each time.
        var (adminStatus, admin) = await ProposeAsync(RunningHost.AdminKey, key, c, c.NewTarget);
        adminStatus.ShouldBe(HttpStatusCode.Accepted);
        admin!["editId"]!.GetValue<Guid>().ShouldNotBe(id);
        var (_, plain1) = await ProposeAsync(RunningHost.ProposerKey, null, c, c.NewTarget);
        var (_, plain2) = await ProposeAsync(RunningHost.ProposerKey, null, c, c.NewTarget);
        plain1!["editId"]!.GetValue<Guid>().ShouldNotBe(plain2!["editId"]!.GetValue<Guid>());
    }

    [Fact]
    public async Task a_decision_with_a_stale_if_match_is_412_with_the_current_version_and_the_current_etag_succeeds()
    {
        var c = Settings.Cases(1, seed: 32)[0];
        var id = await Host.ProposeAsync(c);
        await WaitForExpertAsync(id);
        using var approver = Host.Client(RunningHost.ApproverKey);
        using var shown = await approver.GetAsync($"/edits/{id}");
        var etag = shown.Headers.ETag!.Tag;
        etag.ShouldBe("\"2\"", "proposed, then its expert recorded");
        var head = await Host.Ledger.GetHeadAsync();

        // If-Match compares strongly: the same version as a weak tag does not match.
        using var weak = new HttpRequestMessage(HttpMethod.Post, $"/edits/{id}/approve");
        weak.Headers.TryAddWithoutValidation("If-Match", $"W/{etag}");
        using var weakRefused = await approver.SendAsync(weak);
        weakRefused.StatusCode.ShouldBe(HttpStatusCode.PreconditionFailed, await weakRefused.Content.ReadAsStringAsync());
        (await weakRefused.Content.ReadAsStringAsync()).ShouldContain("weak entity tag");
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head);

        using var stale = new HttpRequestMessage(HttpMethod.Post, $"/edits/{id}/approve") { Headers = { { "If-Match", "\"1\"" } } };
        using var refused = await approver.SendAsync(stale);
        refused.StatusCode.ShouldBe(HttpStatusCode.PreconditionFailed);
        refused.Headers.ETag!.Tag.ShouldBe(etag);
        (await refused.Content.ReadAsStringAsync()).ShouldContain("is at version 2, but If-Match expected version 1");
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head);

        using var current = new HttpRequestMessage(HttpMethod.Post, $"/edits/{id}/approve") { Headers = { { "If-Match", etag } } };
        using var approved = await approver.SendAsync(current);
        approved.StatusCode.ShouldBe(HttpStatusCode.OK, await approved.Content.ReadAsStringAsync());
        (await Host.Ledger.GetEditAsync(id)).Status.ToString().ShouldBe("Active");

        // Without If-Match the decision is taken on the current state, as before.
        var other = await Host.ProposeAsync(Settings.Cases(2, seed: 32)[1]);
        await WaitForExpertAsync(other);
        (await approver.PostAsJsonAsync($"/edits/{other}/reject", new { reason = "not needed" })).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_proposer_reads_its_own_edits_and_the_head_and_nothing_of_others_or_the_past()
    {
        var cases = Settings.Cases(2, seed: 33);
        var mine = await Host.ProposeAsync(cases[0], RunningHost.ProposerKey);
        var theirs = await Host.ProposeAsync(cases[1], RunningHost.AdminKey);
        await WaitForExpertAsync(mine);
        await WaitForExpertAsync(theirs);

        using var proposer = Host.Client(RunningHost.ProposerKey);
        (await proposer.GetAsync($"/edits/{mine}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await proposer.GetAsync($"/edits/{theirs}")).StatusCode.ShouldBe(HttpStatusCode.NotFound, "another user's edit, its rationale and history are not a proposer's to read");
        var listed = JsonNode.Parse(await proposer.GetStringAsync("/edits"))!.AsArray().Select(e => e!["id"]!.GetValue<Guid>()).ToList();
        listed.ShouldBe([mine]);
        (await proposer.GetAsync("/ledger/head")).StatusCode.ShouldBe(HttpStatusCode.OK);
        foreach (var path in new[] { "/ledger/versions", "/ledger/active", "/ledger/diff?from=0", "/ledger/verify" })
            (await proposer.GetAsync(path)).StatusCode.ShouldBe(HttpStatusCode.Forbidden, path);
        using (var head = await proposer.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"))))
            head.StatusCode.ShouldBe(HttpStatusCode.OK);
        using (var past = await proposer.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"), ("asOf", "1"))))
            past.StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        foreach (var key in new[] { RunningHost.ApproverKey, RunningHost.AuditorKey, RunningHost.AdminKey })
        {
            using var reader = Host.Client(key);
            (await reader.GetAsync($"/edits/{theirs}")).StatusCode.ShouldBe(HttpStatusCode.OK, key);
            JsonNode.Parse(await reader.GetStringAsync("/edits"))!.AsArray().Count.ShouldBe(2, key);
            foreach (var path in new[] { "/ledger/versions", "/ledger/active", "/ledger/diff?from=0" })
                (await reader.GetAsync(path)).StatusCode.ShouldBe(HttpStatusCode.OK, $"{key} {path}");
            using var past = await reader.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"), ("asOf", "1")));
            past.StatusCode.ShouldBe(HttpStatusCode.OK, key);
        }
        (await Host.Client(RunningHost.ApproverKey).GetAsync("/ledger/verify")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await Host.Client(RunningHost.AuditorKey).GetAsync("/ledger/verify")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_proposer_supersedes_only_its_own_edits_and_another_users_id_answers_as_a_missing_one()
    {
        var cases = Settings.Cases(3, seed: 34);
        var mine = await Host.ProposeAsync(cases[0], RunningHost.ProposerKey);
        var theirs = await Host.ProposeAsync(cases[1], RunningHost.AdminKey);
        await WaitForExpertAsync(mine);
        await WaitForExpertAsync(theirs);
        var head = await Host.Ledger.GetHeadAsync();

        async Task<(HttpStatusCode Status, JsonNode? Body)> SupersedeAsync(string key, Guid older)
        {
            using var client = Host.Client(key);
            var c = cases[2];
            using var response = await client.PostAsync("/edits", RunningHost.Form(c.Edit.Image!.ToPng(),
                ("prompt", c.Edit.Prompt), ("target", c.NewTarget), ("supersedes", older.ToString())));
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
        }

        var (otherStatus, other) = await SupersedeAsync(RunningHost.ProposerKey, theirs);
        var (missingStatus, missing) = await SupersedeAsync(RunningHost.ProposerKey, Guid.NewGuid());
        otherStatus.ShouldBe(HttpStatusCode.NotFound, other?.ToJsonString());
        missingStatus.ShouldBe(HttpStatusCode.NotFound, missing?.ToJsonString());
        other!["code"]!.GetValue<string>().ShouldBe("edit_not_found");
        missing!["code"]!.GetValue<string>().ShouldBe("edit_not_found");
        other["title"]?.ToJsonString().ShouldBe(missing["title"]?.ToJsonString());
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head, "a refused proposal stores nothing");

        var (ownStatus, own) = await SupersedeAsync(RunningHost.ProposerKey, mine);
        ownStatus.ShouldBe(HttpStatusCode.Accepted, own?.ToJsonString());
        var (adminStatus, admin) = await SupersedeAsync(RunningHost.AdminKey, mine);
        adminStatus.ShouldBe(HttpStatusCode.Accepted, admin?.ToJsonString());
    }

    [Fact]
    public async Task a_reviewer_is_shown_the_chained_proposal_and_told_when_the_summary_row_was_changed()
    {
        var c = Settings.Cases(1, seed: 35)[0];
        var id = await Host.ProposeAsync(c);
        await WaitForExpertAsync(id);
        var proposal = await Host.Ledger.GetProposalAsync(id);
        using var approver = Host.Client(RunningHost.ApproverKey);

        var before = JsonNode.Parse(await approver.GetStringAsync($"/edits/{id}"))!;
        before["projectionMismatch"]!.GetValue<bool>().ShouldBeFalse();
        before["edit"]!["target"]!.GetValue<string>().ShouldBe(proposal.Target);

        // An insider with the application role (here the superuser) rewrites the summary row, not the chain.
        await using (var connection = new Npgsql.NpgsqlConnection(Postgres.ConnectionString))
        {
            await connection.OpenAsync();
            await using var update = new Npgsql.NpgsqlCommand(
                $"update {Schema}.mt_doc_editsummary set data = jsonb_set(jsonb_set(data, '{{target}}', '\"a harmless word\"'), '{{rationale}}', '\"reviewed already\"') where id = @id",
                connection);
            update.Parameters.AddWithValue("id", id);
            (await update.ExecuteNonQueryAsync()).ShouldBe(1);
        }
        (await Host.Ledger.GetEditAsync(id)).Target.ShouldBe("a harmless word", "the row was changed");

        var after = JsonNode.Parse(await approver.GetStringAsync($"/edits/{id}"))!;
        after["edit"]!["target"]!.GetValue<string>().ShouldBe(proposal.Target);
        after["edit"]!["rationale"]!.GetValue<string>().ShouldBe(proposal.Rationale);
        after["edit"]!["prompt"]!.GetValue<string>().ShouldBe(proposal.Prompt);
        after["projectionMismatch"]!.GetValue<bool>().ShouldBeTrue(after.ToJsonString());
        after["mismatchedFields"]!.AsArray().Select(f => f!.GetValue<string>()).ShouldBe(["target", "rationale"], ignoreOrder: true);
    }

    private async Task WaitForExpertAsync(Guid id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await Host.Ledger.GetEditAsync(id)).ExpertSha256 is null)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no expert for {id}");
            await Task.Delay(100);
        }
    }
}
