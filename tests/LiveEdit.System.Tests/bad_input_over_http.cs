using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

[Collection(SystemCollection.Name)]
public sealed class bad_input_over_http(PostgresFixture postgres) : HostPerClass(postgres)
{
    private readonly LiveEdit.Model.World.EditCase _case = Settings.Cases(1, seed: 15)[0];

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema) =>
        Settings.InMemory(postgres, schema, policy: "FourEyes");

    private async Task<(HttpStatusCode Status, JsonNode? Body)> ProposeRaw(string? key, byte[]? image, string prompt, string target)
    {
        using var client = Host.Client(key);
        client.DefaultRequestHeaders.ExpectContinue = true; // a refused upload is answered before its body is sent
        using var response = await client.PostAsync("/edits", RunningHost.Form(image, ("prompt", prompt), ("target", target)));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>Runs a bad request and checks the status, a problem-details body, and that the ledger did not move.</summary>
    private async Task Refused(HttpStatusCode expected, Func<Task<(HttpStatusCode, JsonNode?)>> request, bool expectBody = true)
    {
        var head = await Host.Ledger.GetHeadAsync();
        var (status, body) = await request();
        status.ShouldBe(expected, body?.ToJsonString());
        if (expectBody)
        {
            body.ShouldNotBeNull();
            body["title"].ShouldNotBeNull();
            body["status"]!.GetValue<int>().ShouldBe((int)expected);
        }
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head, "a refused request changes nothing in the ledger");
    }

    [Fact]
    public async Task a_file_that_is_not_an_image_is_422() =>
        await Refused(HttpStatusCode.UnprocessableEntity, () => ProposeRaw(RunningHost.ProposerKey, "not an image at all"u8.ToArray(), "what is it?", "x"));

    [Fact]
    public async Task a_50_mb_upload_is_413() =>
        await Refused(HttpStatusCode.RequestEntityTooLarge, () => ProposeRaw(RunningHost.ProposerKey, new byte[50 * 1024 * 1024], "what is it?", "x"));

    [Fact]
    public async Task an_empty_prompt_is_400() =>
        await Refused(HttpStatusCode.BadRequest, () => ProposeRaw(RunningHost.ProposerKey, _case.Edit.Image!.ToPng(), "", "x"));

    [Fact]
    public async Task an_unknown_edit_is_404() =>
        await Refused(HttpStatusCode.NotFound, async () =>
        {
            using var client = Host.Client(RunningHost.ApproverKey);
            using var response = await client.PostAsync($"/edits/{Guid.NewGuid()}/approve", null);
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        });

    [Fact]
    public async Task no_key_is_401_and_the_wrong_role_is_403()
    {
        await Refused(HttpStatusCode.Unauthorized, () => ProposeRaw(null, _case.Edit.Image!.ToPng(), "what is it?", "x"), expectBody: false);
        await Refused(HttpStatusCode.Unauthorized, () => ProposeRaw("not-a-key-at-all", _case.Edit.Image!.ToPng(), "what is it?", "x"), expectBody: false);
        await Refused(HttpStatusCode.Forbidden, () => ProposeRaw(RunningHost.AuditorKey, _case.Edit.Image!.ToPng(), "what is it?", "x"), expectBody: false);
    }

    [Fact]
    public async Task approving_your_own_edit_under_four_eyes_is_422()
    {
        var id = await Host.ProposeAsync(_case);
        await WaitForExpertAsync(id); // the in-process worker writes in the background; let it finish first
        // A proposer's key cannot approve at all (403). Four-eyes is about the person: an admin may approve, but not
        // an edit the same admin proposed (422).
        await Refused(HttpStatusCode.Forbidden, async () =>
        {
            using var client = Host.Client(RunningHost.ProposerKey);
            using var response = await client.PostAsync($"/edits/{id}/approve", null);
            return (response.StatusCode, null);
        }, expectBody: false);

        var own = await Host.ProposeAsync(_case, RunningHost.AdminKey);
        await WaitForExpertAsync(own);
        await Refused(HttpStatusCode.UnprocessableEntity, async () =>
        {
            using var client = Host.Client(RunningHost.AdminKey);
            using var response = await client.PostAsync($"/edits/{own}/approve", null);
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        });
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

    [Fact]
    public async Task as_of_before_the_first_event_is_refused()
    {
        await WaitForExpertAsync(await Host.ProposeAsync(_case));
        await Refused(HttpStatusCode.NotFound, async () =>
        {
            using var client = Host.Client(RunningHost.AuditorKey);
            using var response = await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"), ("asOf", "2001-01-01T00:00:00Z")));
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        });
        await Refused(HttpStatusCode.BadRequest, async () =>
        {
            using var client = Host.Client(RunningHost.AuditorKey);
            using var response = await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "x"), ("asOf", "yesterday")));
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        });
    }

    [Fact]
    public async Task retracting_twice_is_a_conflict()
    {
        var id = await Host.ProposeAsync(_case, RunningHost.ProposerKey);
        await WaitForExpertAsync(id);
        using var admin = Host.Client(RunningHost.AdminKey);
        (await admin.PostAsJsonAsync($"/edits/{id}/retract", new { reason = "first" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Refused(HttpStatusCode.Conflict, async () =>
        {
            using var response = await admin.PostAsJsonAsync($"/edits/{id}/retract", new { reason = "second" });
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        });
    }
}
