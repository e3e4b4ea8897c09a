using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.System.Tests;

/// <summary>
/// A ledger written while the routing thresholds were part of the generator's identity: its experts carry the old id
/// (<c>49608653…</c> for the committed editor with margin 0.75 and band 4). After the change it still serves, travels
/// in time and passes <c>verify --experts</c>; the host records the policy those experts were served with, even when the
/// editor's default has changed since; an admin's new policy changes answers from its version on, and only there.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class serving_a_ledger_from_before_the_routing_policy(PostgresFixture postgres) : IAsyncLifetime
{
    private const string LegacyId = "496086537207dc7f571c4bf677259a42b3ca33ecc44ef5a8e56b5a4c05578e55";
    private static readonly RoutingPolicy Committed = new(Margin: 0.75, Band: 4);
    private string _editor = "";

    public Task InitializeAsync()
    {
        // The committed editor with its default changed to the paper's routing (the alias stays: it is verified at load),
        // so that the policy the host records can only have come from the experts' id.
        _editor = Directory.CreateTempSubdirectory("editor-").FullName;
        var source = Path.Combine(RepositoryRoot.Path, "models", "liveedit-editor");
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(_editor, Path.GetFileName(file)));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(_editor, EditorModules.ConfigFile)))!.AsObject();
        json.Remove("defaultPolicy");
        File.WriteAllText(Path.Combine(_editor, EditorModules.ConfigFile), json.ToJsonString());
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_editor, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task it_serves_time_travels_verifies_and_takes_a_new_policy_from_its_version_on()
    {
        var schema = await Settings.MigrateAsync(postgres, GetType());
        var settings = Settings.InMemory(postgres, schema);
        settings["Workers:InProcess"] = "false";
        settings["Workers:Reconciler:Every"] = "01:00:00";
        settings["Model:EditorFolder"] = _editor;
        var cases = Settings.Cases(3, seed: 41);

        // 1. The ledger as the old code wrote it, before any host of this build saw it.
        using var runtime = ModelRuntime.Load(new ModelSettings { EditorFolder = _editor }.ResolvedAgainst(RepositoryRoot.Path));
        runtime.Editor.DefaultPolicy.ShouldBe(RoutingPolicy.Paper);
        runtime.Editor.LegacyGeneratorSha256(Committed).ShouldBe(LegacyId, "the old formula: parameters, refinement, filter-margin, filter-band");
        var experts = new List<Expert>();
        var versions = new List<long>();
        await using (var store = LedgerStore.Create(postgres.AppConnectionString, schema))
        {
            var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = Convert.FromBase64String(TestChainKey.Base64) });
            foreach (var c in cases)
            {
                var image = await ledger.Blobs.PutAsync(c.Edit.Image!.ToPng());
                var id = Guid.NewGuid();
                await ledger.ProposeAsync(new ProposeEdit(id, image, c.Edit.Prompt, c.NewTarget, "test", "alice"));
                var expert = (await runtime.GenerateAsync(c.Edit.Image!, c.Edit.Prompt, c.NewTarget)).StampedFor(LegacyId);
                experts.Add(expert);
                var sha = await ledger.Blobs.PutAsync(expert.ToBytes());
                var recorded = await ledger.RecordExpertAsync(new RecordExpert(id, sha, expert.GeneratorSha256, expert.BaseSha256, expert.Rank, expert.HiddenSize,
                    "old-worker", 1, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray()));
                versions.Add(recorded.LedgerVersion);
            }
            (await ledger.ListRoutingPoliciesAsync()).ShouldBeEmpty();
        }
        // What the old code served: the same expert floats, routed with margin 0.75 and band 4.
        var servedThen = versions.Select((_, n) => Answers(runtime, experts.Take(n + 1).ToList(), Committed, cases)).ToList();

        // 2. A host of this build serves it.
        await using var host = await RunningHost.StartAsync(settings);
        await host.Server.SyncHeadAsync();
        var recordedPolicy = (await host.Ledger.ListRoutingPoliciesAsync()).ShouldHaveSingleItem();
        recordedPolicy.Event.Inception.ShouldBeTrue();
        recordedPolicy.Event.PolicySha256.ShouldBe(Committed.Sha256, "the policy the experts' id binds, not the editor's new default");
        var policyAt = recordedPolicy.Version;

        for (var i = 0; i < cases.Count; i++)
        {
            var head = await host.QueryAsync(cases[i].Edit.Image, cases[i].Edit.Prompt);
            head["answer"]!.GetValue<string>().ShouldBe(servedThen[^1][i], $"case {i} at the head");
            head["routingPolicySha256"]!.GetValue<string>().ShouldBe(Committed.Sha256);
            for (var v = 0; v < versions.Count; v++)
            {
                var past = await host.QueryAsync(cases[i].Edit.Image, cases[i].Edit.Prompt, versions[v].ToString());
                past["answer"]!.GetValue<string>().ShouldBe(servedThen[v][i], $"case {i} as of version {versions[v]}");
            }
        }
        var verification = await ExpertVerification.VerifyAsync(host.Ledger, host.Runtime);
        verification.Identical.ShouldBe(3, "re-generated and stamped with the recorded alias id: the same SHA-256");
        verification.OtherGenerator.ShouldBe(0);
        verification.AllIntact.ShouldBeTrue();

        // 3. An admin widens the filter: from its version on every expert passes; earlier versions answer as before.
        var wide = new RoutingPolicy(Margin: 1000);
        var before = await host.QueryAsync(cases[0].Edit.Image, cases[0].Edit.Prompt, versions[^1].ToString());
        using var admin = host.Client(RunningHost.AdminKey);
        using var set = await admin.PutAsJsonAsync("/routing-policy", new { margin = 1000, reason = "let every expert through" });
        var setBody = await set.Content.ReadAsStringAsync();
        set.StatusCode.ShouldBe(HttpStatusCode.OK, setBody);
        var changedAt = JsonNode.Parse(setBody)!["version"]!.GetValue<long>();
        changedAt.ShouldBeGreaterThan(policyAt);

        var now = await host.QueryAsync(cases[0].Edit.Image, cases[0].Edit.Prompt);
        now["routingPolicySha256"]!.GetValue<string>().ShouldBe(wide.Sha256);
        now["version"]!.GetValue<long>().ShouldBe(changedAt);
        now["experts"]!.AsArray().Count.ShouldBe(3, "a margin of 1000 lets every expert pass");
        now["answer"]!.GetValue<string>().ShouldBe(Answers(runtime, experts, wide, cases)[0]);
        var after = await host.QueryAsync(cases[0].Edit.Image, cases[0].Edit.Prompt, versions[^1].ToString());
        after.ToJsonString().ShouldBe(before.ToJsonString(), "a query as of an earlier version is unchanged");
        after["routingPolicySha256"]!.GetValue<string>().ShouldBe(Committed.Sha256);
        before["experts"]!.AsArray().Count.ShouldBeLessThan(3, "else the new policy could not show");

        // log and diff show it.
        using var auditor = host.Client(RunningHost.AuditorKey);
        var log = JsonNode.Parse(await auditor.GetStringAsync("/ledger/versions"))!.AsArray();
        log.ShouldContain(v => v!["version"]!.GetValue<long>() == changedAt && v["change"]!.GetValue<string>() == "RoutingPolicySet");
        var diff = JsonNode.Parse(await auditor.GetStringAsync($"/ledger/diff?from={versions[^1]}"))!;
        diff["policyTo"]!["event"]!["policySha256"]!.GetValue<string>().ShouldBe(wide.Sha256);
        diff["policyFrom"]!["event"]!["policySha256"]!.GetValue<string>().ShouldBe(Committed.Sha256);
        var state = JsonNode.Parse(await auditor.GetStringAsync($"/routing-policy?version={versions[^1]}"))!;
        state["inForce"]!["sha256"]!.GetValue<string>().ShouldBe(Committed.Sha256);
        state["history"]!.AsArray().Count.ShouldBe(2);
    }

    [Fact]
    public async Task only_an_admin_sets_the_policy_and_bad_values_name_their_field()
    {
        var schema = await Settings.MigrateAsync(postgres, GetType(), "auth");
        var settings = Settings.InMemory(postgres, schema);
        settings["Workers:InProcess"] = "false";
        await using var host = await RunningHost.StartAsync(settings);
        await host.Server.SyncHeadAsync();
        var head = await host.Ledger.GetHeadAsync();
        var body = new { margin = 0.5, reason = "tighter" };

        foreach (var key in new[] { RunningHost.ProposerKey, RunningHost.ApproverKey, RunningHost.AuditorKey })
        {
            using var client = host.Client(key);
            using var refused = await client.PutAsJsonAsync("/routing-policy", body);
            refused.StatusCode.ShouldBe(HttpStatusCode.Forbidden, key);
        }
        using (var anonymous = host.Client(null))
        using (var refused = await anonymous.PutAsJsonAsync("/routing-policy", body))
            refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await host.Ledger.GetHeadAsync()).ShouldBe(head, "nothing was written");

        using var admin = host.Client(RunningHost.AdminKey);
        foreach (var (bad, field) in new (object Body, string Field)[]
                 {
                     (new { margin = 1e9, reason = "x" }, "margin"),
                     (new { band = -1, reason = "x" }, "band"),
                     (new { hubnessWeight = 0.5, hubnessTopK = 2, filterBankSha256 = new string('a', 64), reason = "x" }, "filterBankSha256"),
                     (new { hubnessTopK = 3, reason = "x" }, "hubnessTopK"),
                 })
        {
            using var response = await admin.PutAsJsonAsync("/routing-policy", bad);
            var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, problem.ToJsonString());
            problem["code"]!.GetValue<string>().ShouldBe("invalid_routing_policy");
            problem["field"]!.GetValue<string>().ShouldBe(field);
            problem["detail"]!.GetValue<string>().ShouldContain(field);
        }
        using (var noReason = await admin.PutAsJsonAsync("/routing-policy", new { margin = 0.5 }))
            noReason.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await host.Ledger.GetHeadAsync()).ShouldBe(head, "nothing was written");

        // If-Match and Idempotency-Key as on the other write endpoints.
        using var current = await admin.GetAsync("/routing-policy");
        var etag = current.Headers.ETag!.Tag;
        using (var stale = new HttpRequestMessage(HttpMethod.Put, "/routing-policy") { Content = JsonContent.Create(body) })
        {
            stale.Headers.TryAddWithoutValidation("If-Match", "\"999999\"");
            using var response = await admin.SendAsync(stale);
            response.StatusCode.ShouldBe(HttpStatusCode.PreconditionFailed);
            response.Headers.ETag!.Tag.ShouldBe(etag);
        }
        long first = 0;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, "/routing-policy") { Content = JsonContent.Create(body) };
            request.Headers.TryAddWithoutValidation("If-Match", etag);
            request.Headers.TryAddWithoutValidation("Idempotency-Key", "tighten-1");
            using var response = await admin.SendAsync(request);
            var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            response.StatusCode.ShouldBe(HttpStatusCode.OK, answer.ToJsonString());
            if (attempt == 0) first = answer["version"]!.GetValue<long>();
            else
            {
                answer["version"]!.GetValue<long>().ShouldBe(first, "a retry sets it once");
                answer["replayed"]!.GetValue<bool>().ShouldBeTrue();
            }
        }
        (await host.Ledger.ListRoutingPoliciesAsync()).Count.ShouldBe(2, "the inception and one change");
    }

    // Greedy answers of the edited model with these experts and this policy, built here, not by the host.
    private static List<string> Answers(ModelRuntime runtime, IReadOnlyList<Expert> experts, RoutingPolicy policy, IReadOnlyList<EditCase> cases)
    {
        using var scope = NewDisposeScope();
        using var model = new EditedModel(runtime.Model, runtime.Editor, policy: policy);
        for (var e = 0; e < experts.Count; e++) model.Add($"{e}", experts[e], e);
        return cases.Select(c => model.Answer([new VlmExample(c.Edit.Image!.ToTensor(), c.Edit.Prompt)], EditTextLimits.MaxAnswerTokens)[0].Text).ToList();
    }
}
