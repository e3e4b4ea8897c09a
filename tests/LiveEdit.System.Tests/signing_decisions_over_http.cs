using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json.Nodes;
using LiveEdit.Inference.Auth.People;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// Approve, reject and retract over HTTP record an electronic signature: a person gives user name and password again
/// (checked against their account: a wrong one is refused, counted toward lockout, and appends nothing), a machine's key
/// signs as itself. The signer must hold the role, a signed-in person signs only as themselves, and four eyes hold for
/// signers too. GET /edits/{id} and <c>liveedit edit show</c> show every signature.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class signing_decisions_over_http(PostgresFixture postgres) : IAsyncLifetime
{
    private const string Password = "a long passphrase 1", PersonHeader = "X-Test-Person";
    private RunningHost _host = null!;
    private string _schema = "";

    /// <summary>
    /// Stands in for the web UI's cookie sign-in: a request with <c>X-Test-Person: user;role,role</c> and no API key arrives
    /// as that person's principal (a name claim and role claims, not the API-key scheme).
    /// </summary>
    private sealed class SignedInPerson : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, following) =>
            {
                if (context.Request.Headers[PersonHeader].ToString() is { Length: > 0 } person)
                {
                    var parts = person.Split(';');
                    var claims = new List<Claim> { new(ClaimTypes.Name, parts[0]) };
                    claims.AddRange(parts[1].Split(',').Select(r => new Claim(ClaimTypes.Role, r)));
                    context.User = new ClaimsPrincipal(new ClaimsIdentity(claims, "Cookies"));
                }
                await following(context);
            });
            next(app);
        };
    }

    public async Task InitializeAsync()
    {
        _schema = await Settings.MigrateAsync(postgres, GetType());
        var people = PeopleStore.Open(postgres.OwnerConnectionString, _schema);
        await people.AddAsync("bob", "Bob Baker", ["approver"], Password);
        await people.AddAsync("alice", "Alice Archer", ["proposer", "approver"], Password);
        await people.AddAsync("carol", "Carol Clark", ["auditor"], Password);
        await people.AddAsync("dana", "Dana Diaz", ["admin"], Password);
        await people.AddAsync("frank", "Frank Fox", ["approver"], Password);
        _host = await RunningHost.StartAsync(Settings.InMemory(postgres, _schema, policy: "FourEyes"),
            configure: b => b.Services.AddSingleton<IStartupFilter, SignedInPerson>());
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<Guid> ProposeAsync(int seed) => await _host.ProposeAsync(Settings.Cases(1, seed: seed)[0]);

    private static object Body(string? user, string? password, string? meaning = null, string? reason = null) =>
        new { reason, signature = new { userName = user, password, meaning } };

    private async Task<(int Status, JsonNode? Body)> PostAsync(string url, object? body, string? key = RunningHost.ApproverKey, string? person = null)
    {
        using var client = _host.Client(key);
        if (person is not null) client.DefaultRequestHeaders.Add(PersonHeader, person);
        using var response = await client.PostAsync(url, body is null ? null : JsonContent.Create(body));
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private async Task<JsonNode> ShowAsync(Guid id)
    {
        using var client = _host.Client(RunningHost.AuditorKey);
        return JsonNode.Parse(await client.GetStringAsync($"/edits/{id}"))!;
    }

    private async Task<IReadOnlyList<object>> EventsAsync(Guid id) => (await _host.Ledger.GetHistoryAsync(id)).Select(h => h.Event).ToList();

    private async Task<int> FailuresOfAsync(string user) => (await PeopleStore.Open(postgres.OwnerConnectionString, _schema).FindAsync(user))!.FailedAttempts;

    [Fact]
    public async Task an_approval_signed_with_user_name_and_password_records_who_what_when_and_the_binding()
    {
        var id = await ProposeAsync(31);

        var (status, body) = await PostAsync($"/edits/{id}/approve", Body("Bob", Password, "approval"));

        status.ShouldBe(200, body?.ToJsonString());
        var history = await _host.Ledger.GetHistoryAsync(id);
        var approval = history.Single(h => h.Event is EditApproved);
        var expertBefore = history.Where(h => h.Version < approval.Version).Select(h => h.Event).OfType<ExpertGenerated>().SingleOrDefault()?.ExpertSha256;
        var signed = (await ShowAsync(id))["signatures"]!.AsArray().ShouldHaveSingleItem()!;
        signed["type"]!.GetValue<string>().ShouldBe("EditApproved");
        signed["version"]!.GetValue<long>().ShouldBe(approval.Version);
        var signature = signed["signature"]!;
        signature["signerUserName"]!.GetValue<string>().ShouldBe("bob");
        signature["signerName"]!.GetValue<string>().ShouldBe("Bob Baker");
        signature["meaning"]!.GetValue<string>().ShouldBe("approval");
        signature["method"]!.GetValue<string>().ShouldBe("password");
        signature["signedAt"]!.GetValue<DateTimeOffset>().ShouldBe(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1));
        var binding = signature["binding"]!;
        binding["editContentSha256"]!.GetValue<string>().ShouldBe(EditContent.Sha256(await _host.Ledger.GetProposalAsync(id)));
        binding["generatorSha256"]!.GetValue<string>().ShouldBe(_host.Runtime.Editor.GeneratorSha256);
        binding["baseModelSha256"]!.GetValue<string>().ShouldBe(_host.Runtime.Model.WeightsSha256);
        binding["expertSha256"]?.GetValue<string>().ShouldBe(expertBefore);

        await _host.WaitForStatusAsync(id, "Active", TimeSpan.FromMinutes(2));
        (await EventsAsync(id)).OfType<ExpertGenerated>().ShouldHaveSingleItem().ExpertSha256.ShouldNotBeNullOrEmpty();
        (await _host.Ledger.VerifyAsync()).IsIntact.ShouldBeTrue();
    }

    [Fact]
    public async Task a_wrong_password_is_refused_naming_signature_password_counts_toward_lockout_and_appends_nothing()
    {
        var id = await ProposeAsync(32);
        var before = await FailuresOfAsync("frank");

        var (status, body) = await PostAsync($"/edits/{id}/approve", Body("frank", "not the passphrase"));

        status.ShouldBe(403, body?.ToJsonString());
        body!["code"]!.GetValue<string>().ShouldBe("signature_rejected");
        body["field"]!.GetValue<string>().ShouldBe("signature.password");
        body["detail"]!.GetValue<string>().ShouldStartWith("signature.password:");
        (await FailuresOfAsync("frank")).ShouldBe(before + 1);
        (await EventsAsync(id)).ShouldNotContain(e => e is EditApproved);
    }

    [Fact]
    public async Task the_proposer_cannot_sign_the_approval_of_their_own_edit()
    {
        var id = await ProposeAsync(33); // proposed with alice's key

        var (status, body) = await PostAsync($"/edits/{id}/approve", Body("alice", Password));

        status.ShouldBe(422, body?.ToJsonString());
        body!["code"]!.GetValue<string>().ShouldBe("four_eyes_violation");
        (await EventsAsync(id)).ShouldNotContain(e => e is EditApproved);
    }

    [Fact]
    public async Task a_machine_key_without_a_signature_signs_as_the_key()
    {
        var id = await ProposeAsync(34);

        (await PostAsync($"/edits/{id}/approve", null)).Status.ShouldBe(200);

        var signature = (await EventsAsync(id)).OfType<EditApproved>().ShouldHaveSingleItem().Signature.ShouldNotBeNull();
        (signature.SignerUserName, signature.SignerName, signature.Method, signature.Meaning).ShouldBe(("bob", "bob", "api-key", "approval"));
    }

    [Fact]
    public async Task a_signer_without_the_role_is_refused_and_a_meaning_the_decision_does_not_take_is_named()
    {
        var id = await ProposeAsync(35);

        var (status, body) = await PostAsync($"/edits/{id}/approve", Body("carol", Password));
        status.ShouldBe(403, body?.ToJsonString());
        (body!["code"]!.GetValue<string>(), body["field"]!.GetValue<string>()).ShouldBe(("signer_lacks_role", "signature.userName"));

        (status, body) = await PostAsync($"/edits/{id}/approve", Body("bob", Password, "retraction"));
        status.ShouldBe(400, body?.ToJsonString());
        body!["field"]!.GetValue<string>().ShouldBe("signature.meaning");

        (status, body) = await PostAsync($"/edits/{id}/approve", Body("bob", null));
        status.ShouldBe(400, body?.ToJsonString());
        body!["field"]!.GetValue<string>().ShouldBe("signature.password");
        (await EventsAsync(id)).ShouldNotContain(e => e is EditApproved);
    }

    [Fact]
    public async Task a_signed_in_person_must_sign_and_only_as_themselves()
    {
        var id = await ProposeAsync(36);

        var (status, body) = await PostAsync($"/edits/{id}/approve", null, key: null, person: "bob;approver");
        status.ShouldBe(400, body?.ToJsonString());
        (body!["code"]!.GetValue<string>(), body["field"]!.GetValue<string>()).ShouldBe(("signature_required", "signature"));

        (status, body) = await PostAsync($"/edits/{id}/approve", Body("frank", Password), key: null, person: "bob;approver");
        status.ShouldBe(403, body?.ToJsonString());
        (body!["code"]!.GetValue<string>(), body["field"]!.GetValue<string>()).ShouldBe(("signer_not_caller", "signature.userName"));
        (await EventsAsync(id)).ShouldNotContain(e => e is EditApproved);

        (status, body) = await PostAsync($"/edits/{id}/approve", Body("bob", Password, "review"), key: null, person: "bob;approver");
        status.ShouldBe(200, body?.ToJsonString());
        var approved = (await EventsAsync(id)).OfType<EditApproved>().ShouldHaveSingleItem();
        approved.ApprovedBy.ShouldBe("bob");
        (approved.Signature!.Method, approved.Signature.Meaning, approved.Signature.SignerName).ShouldBe(("password", "review", "Bob Baker"));
    }

    [Fact]
    public async Task a_rejection_and_a_retraction_are_signed_and_the_retraction_is_bound_to_the_expert()
    {
        var rejected = await ProposeAsync(37);
        var (status, body) = await PostAsync($"/edits/{rejected}/reject", Body("bob", Password, "review", reason: "off topic"));
        status.ShouldBe(200, body?.ToJsonString());
        var rejection = (await EventsAsync(rejected)).OfType<EditRejected>().ShouldHaveSingleItem();
        (rejection.Reason, rejection.Signature!.Meaning, rejection.Signature.SignerUserName).ShouldBe(("off topic", "review", "bob"));

        var retracted = await ProposeAsync(38);
        (await PostAsync($"/edits/{retracted}/approve", null)).Status.ShouldBe(200);
        await _host.WaitForStatusAsync(retracted, "Active", TimeSpan.FromMinutes(2));
        (status, body) = await PostAsync($"/edits/{retracted}/retract", Body("dana", Password, reason: "wrong after all"), key: RunningHost.AdminKey);
        status.ShouldBe(200, body?.ToJsonString());
        var events = await EventsAsync(retracted);
        var retraction = events.OfType<EditRetracted>().ShouldHaveSingleItem().Signature!;
        (retraction.SignerName, retraction.Meaning, retraction.Method).ShouldBe(("Dana Diaz", "retraction", "password"));
        retraction.Binding.ExpertSha256.ShouldBe(events.OfType<ExpertGenerated>().Single().ExpertSha256);

        var shown = await CliProcess.RunAsync(["edit", "show", retracted.ToString(), "--url", _host.Address.ToString(), "--api-key", RunningHost.AuditorKey],
            new Dictionary<string, string?> { ["LIVEEDIT_API_KEY"] = null, ["LIVEEDIT_URL"] = null, ["COLUMNS"] = "250" });
        shown.ExitCode.ShouldBe(0, shown.ToString());
        shown.Out.ShouldContain("Dana Diaz (dana)");
        shown.Out.ShouldContain("retraction");
        shown.Out.ShouldContain($"expert {retraction.Binding.ExpertSha256![..12]}");
    }

    [Fact]
    public async Task a_person_signs_from_the_command_line_with_the_password_on_standard_input()
    {
        var id = await ProposeAsync(39);
        Task<CliResult> Approve(string password) => CliProcess.RunAsync(
            ["edit", "approve", id.ToString(), "--sign-as", "frank", "--password-stdin", "--meaning", "responsibility", "--url", _host.Address.ToString(), "--api-key", RunningHost.ApproverKey],
            new Dictionary<string, string?> { ["LIVEEDIT_API_KEY"] = null, ["LIVEEDIT_URL"] = null }, standardInput: password + "\n");

        var refused = await Approve("not the passphrase");
        refused.ExitCode.ShouldBe(2, refused.ToString());
        refused.Error.ShouldContain("signature.password");
        (await EventsAsync(id)).ShouldNotContain(e => e is EditApproved);

        var signed = await Approve(Password);
        signed.ExitCode.ShouldBe(0, signed.ToString());
        signed.Out.ShouldContain("EditApproved");
        var signature = (await EventsAsync(id)).OfType<EditApproved>().ShouldHaveSingleItem().Signature!;
        (signature.SignerUserName, signature.SignerName, signature.Meaning, signature.Method).ShouldBe(("frank", "Frank Fox", "responsibility", "password"));
    }
}
