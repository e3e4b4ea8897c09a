using System.Net;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Audit;
using LiveEdit.Ledger;
using LiveEdit.Model.Images;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// The auditor's question over HTTP: every answered query is recorded off the request path and found again by its image and
/// day, with the edit whose expert fired; the audit export comes as JSON, HTML or PDF; bad parameters are 4xx naming them.
/// The host runs as the application role, which may only insert query records.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class auditing_over_http(PostgresFixture postgres) : HostPerClass(postgres)
{
    private readonly LiveEdit.Research.World.EditCase _case = Settings.Cases(1, seed: 29)[0];

    private async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> GetAsync(string key, string url)
    {
        using var client = Host.Client(key);
        var response = await client.GetAsync(url);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    private async Task<Guid> ActiveEditAsync()
    {
        var id = await Host.ProposeAsync(_case);
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromMinutes(2));
        return id;
    }

    [Fact]
    public async Task which_edit_made_it_say_that_on_the_day_is_answered_from_the_query_records()
    {
        var edit = await ActiveEditAsync();
        var png = _case.Edit.Image!.ToPng();
        using (var client = Host.Client(RunningHost.ProposerKey))
        {
            using var asked = await client.PostAsync("/query", RunningHost.Form(png, ("prompt", _case.Edit.Prompt),
                ("minVersion", (await Host.Ledger.GetHeadAsync()).ToString(global::System.Globalization.CultureInfo.InvariantCulture))));
            ((int)asked.StatusCode).ShouldBe(200, await asked.Content.ReadAsStringAsync());
        }
        var day = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd");
        var url = $"/audit/queries?from={day}&to={DateTimeOffset.UtcNow.AddDays(1):yyyy-MM-dd}&imageSha256={Sha256Hex.Of(png)}";

        JsonArray found = [];
        for (var wait = 0; wait < 100 && found.Count == 0; wait++)
        {
            var (status, body, _) = await GetAsync(RunningHost.AuditorKey, url);
            status.ShouldBe(HttpStatusCode.OK, body);
            found = JsonNode.Parse(body)!.AsArray();
            if (found.Count == 0) await Task.Delay(100);
        }

        var record = found.ShouldHaveSingleItem()!;
        record["user"]!.GetValue<string>().ShouldBe("alice");
        record["answer"]!.GetValue<string>().ShouldBe(_case.NewTarget);
        record["promptSha256"]!.GetValue<string>().ShouldBe(Sha256Hex.Of(global::System.Text.Encoding.UTF8.GetBytes(_case.Edit.Prompt)));
        record["version"]!.GetValue<long>().ShouldBeGreaterThan(0);
        var fired = record["experts"]!.AsArray().ShouldHaveSingleItem()!;
        fired["editId"]!.GetValue<Guid>().ShouldBe(edit);
        fired["weight"]!.GetValue<double>().ShouldBeGreaterThan(0);

        var (firingStatus, firingBody, _) = await GetAsync(RunningHost.ApproverKey, $"/audit/edits/{edit}/firing");
        firingStatus.ShouldBe(HttpStatusCode.OK, firingBody);
        JsonNode.Parse(firingBody)!["queries"]!.GetValue<long>().ShouldBeGreaterThanOrEqualTo(1);
    }

    [Theory]
    [InlineData("take=0", "bad_take", "'take'")]
    [InlineData("take=ten", "bad_take", "'take'")]
    [InlineData("imageSha256=ABC", "bad_image_sha256", "'imageSha256'")]
    [InlineData("from=yesterday", "bad_from", "'from'")]
    [InlineData("from=2026-03-04&to=2026-03-03", "bad_to", "'to'")]
    [InlineData("editId=not-an-id", "bad_edit_id", "'editId'")]
    [InlineData("user=", "bad_user", "'user'")]
    public async Task a_bad_query_record_filter_is_400_naming_the_parameter(string query, string code, string named)
    {
        var (status, body, _) = await GetAsync(RunningHost.AuditorKey, "/audit/queries?" + query);

        status.ShouldBe(HttpStatusCode.BadRequest, body);
        var problem = JsonNode.Parse(body)!;
        problem["code"]!.GetValue<string>().ShouldBe(code);
        problem["detail"]!.GetValue<string>().ShouldContain(named);
    }

    [Fact]
    public async Task query_records_and_exports_are_for_auditors_and_admins()
    {
        (await GetAsync(RunningHost.ProposerKey, "/audit/queries")).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await GetAsync(RunningHost.ApproverKey, "/audit/queries")).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await GetAsync(RunningHost.ProposerKey, "/audit/export")).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await GetAsync(RunningHost.AdminKey, "/audit/queries")).Status.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task the_export_comes_as_json_html_or_pdf_and_bad_parameters_are_named()
    {
        await ActiveEditAsync();

        var (jsonStatus, json, jsonResponse) = await GetAsync(RunningHost.AuditorKey, "/audit/export");
        jsonStatus.ShouldBe(HttpStatusCode.OK, json);
        jsonResponse.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        jsonResponse.Headers.GetValues("X-Audit-Status").ShouldBe(["Passed"]);
        var export = AuditReportJson.Read(json);
        export.GeneratedBy.ShouldBe("carol");
        export.Edits.ShouldContain(e => e.Prompt == _case.Edit.Prompt && e.Status == "Active");
        export.RoutingPolicyChanges.ShouldNotBeEmpty(); // the host recorded the inception policy

        var (htmlStatus, html, htmlResponse) = await GetAsync(RunningHost.AuditorKey, "/audit/export?format=html&from=1");
        htmlStatus.ShouldBe(HttpStatusCode.OK, html);
        htmlResponse.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        html.ShouldContain(WebUtility.HtmlEncode(_case.Edit.Prompt));

        using var client = Host.Client(RunningHost.AdminKey);
        using var pdf = await client.GetAsync("/audit/export?format=pdf");
        pdf.StatusCode.ShouldBe(HttpStatusCode.OK);
        pdf.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        (await pdf.Content.ReadAsByteArrayAsync())[..5].ShouldBe("%PDF-"u8.ToArray());

        foreach (var (query, code) in new[] { ("format=doc", "bad_format"), ("from=abc", "bad_from"), ("to=99999999", "bad_to"), ("from=5&to=2", "bad_to") })
        {
            var (status, body, _) = await GetAsync(RunningHost.AuditorKey, "/audit/export?" + query);
            status.ShouldBe(HttpStatusCode.BadRequest, body);
            JsonNode.Parse(body)!["code"]!.GetValue<string>().ShouldBe(code, query);
        }
    }

    [Fact]
    public async Task the_command_line_writes_the_report_its_file_extension_names()
    {
        await ActiveEditAsync();
        var folder = Directory.CreateTempSubdirectory("audit-cli-").FullName;
        try
        {
            var environment = new Dictionary<string, string?>
            {
                ["ConnectionStrings__Ledger"] = Postgres.AppConnectionString,
                ["DOTNET_ENVIRONMENT"] = "Production",
                ["Ledger__ChainKeyFile"] = null,
                ["Ledger__ChainKey"] = TestChainKey.Base64,
            };
            foreach (var extension in new[] { "json", "html", "pdf" })
            {
                var path = Path.Combine(folder, "report." + extension);
                var run = await CliProcess.RunAsync(["audit", "export", "--schema", Schema, "--out", path, "--by", "carol"], environment);
                run.ExitCode.ShouldBe(0, run.ToString());
                run.Out.ShouldContain("PASSED");
                File.Exists(path).ShouldBeTrue();
            }
            AuditReportJson.Read(await File.ReadAllTextAsync(Path.Combine(folder, "report.json"))).Edits.ShouldNotBeEmpty();

            var bad = await CliProcess.RunAsync(["audit", "export", "--schema", Schema, "--out", Path.Combine(folder, "report.doc")], environment);
            bad.ExitCode.ShouldBe(2, bad.ToString());
            bad.Error.ShouldContain("--format");
            var range = await CliProcess.RunAsync(["audit", "export", "--schema", Schema, "--out", Path.Combine(folder, "r.json"), "--from", "soon"], environment);
            range.ExitCode.ShouldBe(2, range.ToString());
            range.Error.ShouldContain("--from");
            range.Error.ShouldNotContain("   at ");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
