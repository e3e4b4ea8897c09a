using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// The OpenAPI document as a client's tooling reads it: Redocly's recommended rules pass, and the client types
/// openapi-typescript generates from it type the responses the host really sends (each one is compiled with tsc
/// as a literal of its documented type, so a missing status, a wrong field or an undescribed body fails).
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class describing_the_http_api(PostgresFixture postgres) : HostPerClass(postgres)
{
    private readonly List<(string Path, string Method, int Status, string MediaType, string Body)> _responses = [];

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema) =>
        Settings.InMemory(postgres, schema, policy: "FourEyes");

    /// <summary>Sends a request and keeps its answer under the operation it belongs to (<paramref name="template"/>).</summary>
    private async Task<JsonNode?> SendAsync(string? key, HttpMethod method, string url, string template, int expected, HttpContent? content = null,
        string? ifMatch = null)
    {
        using var client = Host.Client(key);
        using var request = new HttpRequestMessage(method, url) { Content = content };
        if (ifMatch is not null) request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(expected, $"{method} {url}: {body}");
        var mediaType = response.Content.Headers.ContentType?.MediaType ?? "";
        _responses.Add((template, method.Method.ToLowerInvariant(), expected, mediaType, body));
        return body.Length == 0 ? null : JsonNode.Parse(body);
    }

    [Fact]
    public async Task the_document_passes_the_recommended_lint_rules_and_its_generated_client_types_every_real_response()
    {
        using var anonymous = Host.Client(null);
        var document = await anonymous.GetStringAsync("/openapi/v1.json");

        var c = Settings.Cases(1, seed: 23)[0];
        var accepted = await SendAsync(RunningHost.ProposerKey, HttpMethod.Post, "/edits", "/edits", 202,
            RunningHost.Form(c.Edit.Image!.ToPng(), ("prompt", c.Edit.Prompt), ("target", c.NewTarget), ("rationale", "seen wrong"), ("tags", "a,b")));
        var id = accepted!["editId"]!.GetValue<Guid>();
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Post, "/edits", "/edits", 400, RunningHost.Form(c.Edit.Image!.ToPng(), ("target", c.NewTarget)));
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Post, "/edits", "/edits", 415, new StringContent("{}", Encoding.UTF8, "application/json"));
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Get, $"/edits/{id}", "/edits/{id}", 200);
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Get, $"/edits/{Guid.NewGuid()}", "/edits/{id}", 404);
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Get, "/edits?status=Proposed", "/edits", 200);
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Get, "/edits?status=nonsense", "/edits", 400);

        await SendAsync(RunningHost.ProposerKey, HttpMethod.Post, $"/edits/{id}/approve", "/edits/{id}/approve", 403);
        await SendAsync(RunningHost.ApproverKey, HttpMethod.Post, $"/edits/{id}/approve", "/edits/{id}/approve", 412, ifMatch: "\"99\"");
        await SendAsync(RunningHost.ApproverKey, HttpMethod.Post, $"/edits/{id}/approve", "/edits/{id}/approve", 200);
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromMinutes(2));
        await SendAsync(RunningHost.ApproverKey, HttpMethod.Post, $"/edits/{id}/approve", "/edits/{id}/approve", 409);
        var own = await SendAsync(RunningHost.AdminKey, HttpMethod.Post, "/edits", "/edits", 202,
            RunningHost.Form(c.Edit.Image!.ToPng(), ("prompt", c.Edit.Prompt), ("target", c.NewTarget)));
        await SendAsync(RunningHost.AdminKey, HttpMethod.Post, $"/edits/{own!["editId"]}/approve", "/edits/{id}/approve", 422);
        await SendAsync(RunningHost.ApproverKey, HttpMethod.Post, $"/edits/{id}/reject", "/edits/{id}/reject", 415, new StringContent("reason", Encoding.UTF8, "text/plain"));
        await SendAsync(RunningHost.ApproverKey, HttpMethod.Post, $"/edits/{id}/reject", "/edits/{id}/reject", 400, JsonBody("{}"));

        var activeAt = (await Host.Ledger.GetEditAsync(id)).ActivatedAtVersion!.Value.ToString();
        var answer = await SendAsync(RunningHost.AuditorKey, HttpMethod.Post, "/query", "/query", 200,
            RunningHost.Form(c.Edit.Image!.ToPng(), ("prompt", c.Edit.Prompt), ("minVersion", activeAt)));
        answer!["experts"]!.AsArray().Count.ShouldBeGreaterThan(0, "the edit's own question fires its expert, so the answer lists one");
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Post, "/query", "/query", 403, RunningHost.Form(null, ("prompt", c.Edit.Prompt), ("asOf", "1")));
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Post, "/query", "/query", 422, RunningHost.Form(null, ("prompt", c.Edit.Prompt), ("asOf", "999999")));
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Post, "/query", "/query", 422, RunningHost.Form(null, ("prompt", c.Edit.Prompt), ("minVersion", "999999")));
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Post, "/query", "/query", 404, RunningHost.Form(null, ("prompt", c.Edit.Prompt), ("asOf", "2001-01-01T00:00:00Z")));

        await SendAsync(null, HttpMethod.Get, "/ledger/head", "/ledger/head", 401);
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Get, "/ledger/head", "/ledger/head", 200);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/versions?after=0", "/ledger/versions", 200);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/versions?after=x", "/ledger/versions", 400);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/diff?from=0", "/ledger/diff", 200);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/diff", "/ledger/diff", 400);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/diff?from=999999", "/ledger/diff", 404);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/active", "/ledger/active", 200);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/active?version=-1", "/ledger/active", 404);
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Get, "/ledger/verify", "/ledger/verify", 403);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/verify", "/ledger/verify", 200);

        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/routing-policy", "/routing-policy", 200);
        await SendAsync(RunningHost.ProposerKey, HttpMethod.Get, "/routing-policy", "/routing-policy", 403);
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/routing-policy?version=-1", "/routing-policy", 400);
        var set = await SendAsync(RunningHost.AdminKey, HttpMethod.Put, "/routing-policy", "/routing-policy", 200, JsonBody("{\"margin\": 0.25, \"reason\": \"a lint check\"}"));
        await SendAsync(RunningHost.AdminKey, HttpMethod.Put, "/routing-policy", "/routing-policy", 400, JsonBody("{\"band\": -1, \"reason\": \"a lint check\"}"));
        await SendAsync(RunningHost.AdminKey, HttpMethod.Put, "/routing-policy", "/routing-policy", 412, JsonBody("{\"reason\": \"a lint check\"}"),
            ifMatch: $"\"{set!["version"]!.GetValue<long>() - 1}\"");
        await SendAsync(RunningHost.ApproverKey, HttpMethod.Put, "/routing-policy", "/routing-policy", 403, JsonBody("{\"reason\": \"a lint check\"}"));

        // Last: a burst of unknown keys uses up this address's failure budget, and the next keyed request is 429.
        using (var guesser = Host.Client("not-a-key"))
        {
            for (var i = 0; i < 30 && (await guesser.GetAsync("/ledger/head")).StatusCode != HttpStatusCode.TooManyRequests; i++)
            {
            }
        }
        await SendAsync(RunningHost.AuditorKey, HttpMethod.Get, "/ledger/head", "/ledger/head", 429);

        var folder = Directory.CreateTempSubdirectory("liveedit-openapi-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "openapi.json"), document);
            await File.WriteAllTextAsync(Path.Combine(folder, "responses.ts"), TypedResponses());
            var (exit, output) = await RunAsync(Path.Combine(RepositoryRoot.Path, "tools", "openapi", "check"), folder);
            exit.ShouldBe(0, output);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    /// <summary>
    /// One constant per real response, typed as the generated client types its operation, status and media type. The
    /// type must not be <c>unknown</c> (which any value satisfies), and a literal of a known type fails on a missing or
    /// mistyped field and on a field the document does not name.
    /// </summary>
    private string TypedResponses()
    {
        var text = new StringBuilder();
        text.AppendLine("import type { paths } from \"./api\";");
        text.AppendLine("type Known<T> = unknown extends T ? never : T;");
        for (var i = 0; i < _responses.Count; i++)
        {
            var (path, method, status, mediaType, body) = _responses[i];
            mediaType.ShouldNotBeEmpty($"{method} {path} answered {status} without a body");
            text.AppendLine($"// {method.ToUpperInvariant()} {path} → {status}");
            text.AppendLine($"export const response{i}: Known<paths[\"{path}\"][\"{method}\"][\"responses\"][{status}][\"content\"][\"{mediaType}\"]> = {body};");
        }
        return text.ToString();
    }

    private static async Task<(int Exit, string Output)> RunAsync(string script, params string[] arguments)
    {
        var start = new ProcessStartInfo(script) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(patience.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
