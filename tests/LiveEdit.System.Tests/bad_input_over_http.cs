using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Images;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

[Collection(SystemCollection.Name)]
public sealed class bad_input_over_http(PostgresFixture postgres) : HostPerClass(postgres)
{
    private readonly LiveEdit.Research.World.EditCase _case = Settings.Cases(1, seed: 15)[0];

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

    /// <summary>What a bad request may use: a proposed edit (made once, its expert recorded) and a good image.</summary>
    private sealed record Fixture(Guid EditId, string IdempotencyKey, byte[] Png);

    private Fixture? _fixture;

    private async Task<Fixture> FixtureAsync()
    {
        if (_fixture is not null) return _fixture;
        var png = _case.Edit.Image!.ToPng();
        var key = Guid.NewGuid().ToString();
        using var client = Host.Client(RunningHost.ProposerKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/edits")
            { Content = RunningHost.Form(png, ("prompt", _case.Edit.Prompt), ("target", _case.NewTarget)), Headers = { { "Idempotency-Key", key } } };
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(202, body);
        var id = JsonNode.Parse(body)!["editId"]!.GetValue<Guid>();
        await WaitForExpertAsync(id);
        return _fixture = new Fixture(id, key, png);
    }

    private static MultipartFormDataContent Fields(byte[]? image, params (string Name, string Value)[] fields) => RunningHost.Form(image, fields);

    private static HttpContent Raw(string contentType, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    private static MultipartFormDataContent WithImage(byte[] image, string prompt = "what is it?", string target = "babro") => Fields(image, ("prompt", prompt), ("target", target));

    /// <summary>A valid PNG no test has stored: a request that wrote its blob before refusing would change the blob count.</summary>
    private static byte[] FreshPng()
    {
        var pixels = new byte[32 * 32 * 3];
        Random.Shared.NextBytes(pixels);
        return new LiveEdit.Model.Images.RgbImage(32, 32, pixels).ToPng();
    }

    private const string Boundary = "liveedit-boundary";
    private const string Prompt = "what is this creature called?";

    /// <summary>
    /// Bad requests: name → (key, method, path, body, extra headers, expected status, expected problem code). Every one
    /// must be refused with that status and code and leave the ledger head and the blob store as they were.
    /// </summary>
    private static readonly Dictionary<string, Func<Fixture, (string Key, string Method, string Path, HttpContent? Body, (string, string)[] Headers, int Status, string Code)>> BadRequests = new()
    {
        ["NUL in the prompt"] = f => Propose(Fields(f.Png, ("prompt", "what\0is it?"), ("target", "babro")), 400, "control_character"),
        ["NUL in the target"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "zor\0van")), 400, "control_character"),
        ["a terminal escape in the target"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "\u001b[2J\u001b[31mbabro")), 400, "control_character"),
        ["NUL in the rationale"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), ("rationale", "because\0")), 400, "control_character"),
        ["NUL in a tag"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), ("tags", "a,b\0c")), 400, "control_character"),
        ["a bell in the prompt"] = f => Propose(Fields(f.Png, ("prompt", "ring\a"), ("target", "babro")), 400, "control_character"),
        ["a C1 control in the prompt"] = f => Propose(Fields(f.Png, ("prompt", "csi\u009b31m"), ("target", "babro")), 400, "control_character"),
        ["a newline in the target"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "zor\nvan")), 400, "control_character"),
        ["an empty prompt"] = f => Propose(Fields(f.Png, ("prompt", ""), ("target", "babro")), 400, "missing_field"),
        ["no target"] = f => Propose(Fields(f.Png, ("prompt", Prompt)), 400, "missing_field"),
        ["a prompt one character too long"] = f => Propose(Fields(f.Png, ("prompt", new string('a', EditLimits.MaxPromptLength + 1)), ("target", "babro")), 400, "field_too_long"),
        ["a target one character too long"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", new string('z', EditLimits.MaxTargetLength + 1))), 400, "field_too_long"),
        ["a 70 KB rationale"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), ("rationale", new string('r', 70_000))), 400, "field_too_long"),
        ["a 70 KB form field name"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), (new string('n', 70_000), "x")), 400, "malformed_form"),
        ["100 form values"] = f => Propose(Fields(f.Png, Enumerable.Range(0, 100).Select(i => ("tags", $"t{i}")).ToArray()), 400, "malformed_form"),
        ["the prompt twice"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("prompt", "other"), ("target", "babro")), 400, "duplicate_field"),
        ["the target twice"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), ("target", "other")), 400, "duplicate_field"),
        ["two images"] = f =>
        {
            var form = WithImage(f.Png);
            form.Add(new ByteArrayContent(f.Png) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", "second.png");
            return Propose(form, 400, "duplicate_field");
        },
        ["an unknown field"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), ("approvedBy", "me")), 400, "unknown_field"),
        ["2,000 form values"] = f => Propose(Fields(f.Png, Enumerable.Range(0, 2_000).Select(i => ("tags", $"t{i}")).ToArray()), 400, "malformed_form"),
        ["multipart without a boundary"] = _ => Propose(Raw("multipart/form-data", "--x\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n--x--\r\n"), 400, "malformed_form"),
        ["a 200-character boundary"] = _ =>
        {
            var boundary = new string('b', 200);
            return Propose(Raw($"multipart/form-data; boundary={boundary}", $"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n--{boundary}--\r\n"), 400, "malformed_form");
        },
        ["a truncated multipart body"] = _ => Propose(Raw($"multipart/form-data; boundary={Boundary}",
            $"--{Boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nwhat is it?\r\n--{Boundary}\r\nContent-Disposition: form-data; name=\"target\"\r\n\r\nzor"), 400, "malformed_form"),
        ["JSON instead of a form"] = _ => Propose(JsonContent.Create(new { prompt = Prompt, target = "babro" }), 415, "not_a_form"),
        ["no image"] = _ => Propose(Fields(null, ("prompt", Prompt), ("target", "babro")), 400, "missing_image"),
        ["an empty image"] = _ => Propose(WithImage([]), 400, "empty_image"),
        ["text as the image"] = _ => Propose(WithImage("GIF? no, text"u8.ToArray()), 422, "unreadable_image"),
        ["a 70-byte BMP claiming 8000×8000"] = _ => Propose(WithImage(HostileImages.TruncatedBmp()), 415, "unsupported_image_format"),
        ["a GIF"] = _ => Propose(WithImage(HostileImages.Gif()), 415, "unsupported_image_format"),
        ["a PNG bomb of 8192×8192 16-bit pixels"] = _ => Propose(WithImage(HostileImages.PngBomb), 422, "image_too_large"),
        ["a truncated PNG"] = f => Propose(WithImage(f.Png[..(f.Png.Length - 20)]), 422, "unreadable_image"),
        ["a PNG cut inside its header"] = f => Propose(WithImage(f.Png[..20]), 422, "unreadable_image"),
        ["33 tags, with an image the store does not hold yet"] = _ => Propose(Fields(FreshPng(), ("prompt", Prompt), ("target", "babro"),
            ("tags", string.Join(',', Enumerable.Range(0, 33).Select(i => $"t{i}")))), 400, "invalid_input"),
        ["an Idempotency-Key reused with another image"] = f => Propose(WithImage(FreshPng(), Prompt, "babro"), 409, "idempotency_key_reused", ("Idempotency-Key", f.IdempotencyKey)),
        ["supersedes that is not a GUID"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), ("supersedes", "not-a-guid")), 400, "bad_supersedes"),
        ["supersedes an unknown edit"] = f => Propose(Fields(f.Png, ("prompt", Prompt), ("target", "babro"), ("supersedes", Guid.NewGuid().ToString())), 404, "edit_not_found"),
        ["an Idempotency-Key with a space"] = f => Propose(WithImage(f.Png), 400, "bad_idempotency_key", ("Idempotency-Key", "a b")),
        ["an Idempotency-Key reused for another proposal"] = f => Propose(WithImage(f.Png, Prompt, "bagan"), 409, "idempotency_key_reused", ("Idempotency-Key", f.IdempotencyKey)),
        ["a query prompt one character too long"] = _ => Query(Fields(null, ("prompt", new string('q', EditLimits.MaxPromptLength + 1))), 400, "field_too_long"),
        ["a query prompt of 300 words"] = _ => Query(Fields(null, ("prompt", string.Join(' ', Enumerable.Repeat("what", 300)))), 422, "prompt_too_long"),
        ["NUL in a query prompt"] = _ => Query(Fields(null, ("prompt", "what\0")), 400, "control_character"),
        ["asOf a version the ledger has not reached"] = _ => Query(Fields(null, ("prompt", Prompt), ("asOf", "999999")), 422, "as_of_in_future"),
        ["asOf a time in the future"] = _ => Query(Fields(null, ("prompt", Prompt), ("asOf", "2999-01-01T00:00:00Z")), 422, "as_of_in_future"),
        ["asOf 03/01/2026"] = _ => Query(Fields(null, ("prompt", Prompt), ("asOf", "03/01/2026")), 400, "bad_as_of"),
        ["asOf without a zone"] = _ => Query(Fields(null, ("prompt", Prompt), ("asOf", "2026-03-01T00:00:00")), 400, "bad_as_of"),
        ["asOf with a NUL"] = _ => Query(Fields(null, ("prompt", Prompt), ("asOf", "12\0")), 400, "control_character"),
        ["minVersion the ledger has not reached"] = _ => Query(Fields(null, ("prompt", Prompt), ("minVersion", "999999")), 422, "min_version_in_future"),
        ["minVersion that is not a number"] = _ => Query(Fields(null, ("prompt", Prompt), ("minVersion", "latest")), 400, "bad_min_version"),
        ["minVersion below zero"] = _ => Query(Fields(null, ("prompt", Prompt), ("minVersion", "-1")), 400, "bad_min_version"),
        ["minVersion with asOf"] = _ => Query(Fields(null, ("prompt", Prompt), ("asOf", "1"), ("minVersion", "1")), 400, "min_version_with_as_of"),
        ["asOf from a proposer"] = _ => ("dev-proposer-key", "POST", "/query", Fields(null, ("prompt", Prompt), ("asOf", "1")), [], 403, "forbidden_as_of"),
        ["a BMP to the query"] = _ => Query(Fields(HostileImages.TruncatedBmp(), ("prompt", Prompt)), 415, "unsupported_image_format"),
        ["a PNG bomb to the query"] = _ => Query(Fields(HostileImages.PngBomb, ("prompt", Prompt)), 422, "image_too_large"),
        ["a 16×16 PNG whose data inflates to 200 MB"] = _ => Query(Fields(HostileImages.IdatBomb(16, 16, 200L << 20), ("prompt", Prompt)), 422, "image_too_large"),
        ["a progressive JPEG of 200 scans"] = _ => Propose(WithImage(HostileImages.ProgressiveScanBomb(6000, 6000, 200)), 422, "image_too_large"),
        ["a rejection with broken JSON"] = f => Decide("reject", f, Raw("application/json", "{\"reason\": "), 400, "bad_json"),
        ["a rejection as text/plain"] = f => Decide("reject", f, Raw("text/plain", "because"), 415, "unsupported_media_type"),
        ["a rejection without a reason"] = f => Decide("reject", f, JsonContent.Create(new { reason = "" }), 400, "missing_reason"),
        ["a rejection with a number as the reason"] = f => Decide("reject", f, Raw("application/json", "{\"reason\": 42}"), 400, "bad_json"),
        ["a retraction with NUL in the reason"] = f => Decide("retract", f, JsonContent.Create(new { reason = "bad\0" }), 400, "control_character"),
        ["a retraction with an escape in the reason"] = f => Decide("retract", f, JsonContent.Create(new { reason = "\u001b]0;pwned\u0007" }), 400, "control_character"),
        ["a retraction reason one character too long"] = f => Decide("retract", f, JsonContent.Create(new { reason = new string('r', EditLimits.MaxRationaleLength + 1) }), 400, "field_too_long"),
        ["an approval with If-Match that is not a version"] = f => Decide("approve", f, null, 400, "bad_if_match", ("If-Match", "\"abc\"")),
        ["an approval with a stale If-Match"] = f => Decide("approve", f, null, 412, "version_mismatch", ("If-Match", "\"1\"")),
        ["a list of an unknown status"] = _ => ("dev-auditor-key", "GET", "/edits?status=Bogus", null, [], 400, "bad_status"),
        ["a list with take that is not a number"] = _ => ("dev-auditor-key", "GET", "/edits?take=abc", null, [], 400, "bad_request"),
        ["a list with take of a million"] = _ => ("dev-auditor-key", "GET", "/edits?take=1000000", null, [], 400, "invalid_input"),
        ["a diff without from"] = _ => ("dev-auditor-key", "GET", "/ledger/diff", null, [], 400, "missing_from"),
    };

    private static (string, string, string, HttpContent?, (string, string)[], int, string) Propose(HttpContent body, int status, string code, params (string, string)[] headers) =>
        (RunningHost.ProposerKey, "POST", "/edits", body, headers, status, code);

    private static (string, string, string, HttpContent?, (string, string)[], int, string) Query(HttpContent body, int status, string code) =>
        (RunningHost.AuditorKey, "POST", "/query", body, [], status, code);

    private static (string, string, string, HttpContent?, (string, string)[], int, string) Decide(string action, Fixture f, HttpContent? body, int status, string code, params (string, string)[] headers) =>
        (RunningHost.AdminKey, "POST", $"/edits/{f.EditId}/{action}", body, headers, status, code);

    public static TheoryData<string> BadRequestNames => new(BadRequests.Keys);

    [Theory]
    [MemberData(nameof(BadRequestNames))]
    public async Task is_refused_with_a_problem_naming_it_and_stores_nothing(string name)
    {
        var fixture = await FixtureAsync();
        var (key, method, path, body, headers, status, code) = BadRequests[name](fixture);
        var head = await Host.Ledger.GetHeadAsync();
        var blobs = await BlobCountAsync();

        using var client = Host.Client(key);
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = body };
        foreach (var (header, value) in headers) request.Headers.TryAddWithoutValidation(header, value);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        ((int)response.StatusCode).ShouldBe(status, text);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json", text);
        var problem = JsonNode.Parse(text)!;
        problem["code"]!.GetValue<string>().ShouldBe(code, text);
        problem["status"]!.GetValue<int>().ShouldBe(status);
        problem["detail"]!.GetValue<string>().ShouldNotBeNullOrWhiteSpace();
        foreach (var leak in new[] { "Exception", "Npgsql", "Marten", "select ", "insert into", " at LiveEdit", " at Microsoft", "System." })
            text.ShouldNotContain(leak, Case.Insensitive, $"the problem leaks '{leak}': {text}");
        text.ShouldAllBe(c => !char.IsControl(c) || c == '\n', "no raw control characters in a problem body");
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head, "a refused request changes nothing in the ledger");
        (await BlobCountAsync()).ShouldBe(blobs, "a refused request stores no blob");
    }

    [Fact]
    public void the_suite_has_at_least_40_bad_requests() => BadRequests.Count.ShouldBeGreaterThanOrEqualTo(40);

    private async Task<long> BlobCountAsync()
    {
        await using var connection = new NpgsqlConnection(Host.App.Configuration["ConnectionStrings:Ledger"]);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select count(*) from {Host.App.Configuration["Ledger:Schema"]}.ledger_blobs", connection);
        return (long)(await command.ExecuteScalarAsync())!;
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
