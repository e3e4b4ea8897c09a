using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LiveEdit.Cli;

/// <summary>A thin client of the inference host's HTTP API, used by the edit/query/log commands and the demo.</summary>
internal sealed class HostClient(Uri baseAddress, string apiKey) : IDisposable
{
    public const string DefaultUrl = "http://127.0.0.1:5080";
    private readonly HttpClient _http = new() { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(2) };

    public Uri BaseAddress => baseAddress;

    /// <summary>The same host with another caller's key.</summary>
    public HostClient As(string key) => new(baseAddress, key);

    public Task<JsonNode> ProposeAsync(string imagePath, string prompt, string target, string rationale, IEnumerable<string>? tags = null, Guid? supersedes = null, CancellationToken ct = default)
    {
        if (!File.Exists(imagePath)) throw new HostCallException($"image file '{imagePath}' does not exist");
        return ProposeAsync(File.ReadAllBytes(imagePath), Path.GetFileName(imagePath), prompt, target, rationale, tags, supersedes, ct);
    }

    /// <summary>
    /// Proposes an edit with a fresh Idempotency-Key, retrying (same key) when the host cannot be reached or answers
    /// 502/503/504: a retry of a proposal the host did record returns that edit instead of making a second one.
    /// </summary>
    public async Task<JsonNode> ProposeAsync(byte[] image, string fileName, string prompt, string target, string rationale, IEnumerable<string>? tags = null, Guid? supersedes = null, CancellationToken ct = default)
    {
        var tagList = tags?.ToList();
        var idempotencyKey = Guid.NewGuid().ToString();
        for (var attempt = 1; ; attempt++)
        {
            using var form = new MultipartFormDataContent
            {
                { new ByteArrayContent(image) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", fileName },
                { new StringContent(prompt), "prompt" },
                { new StringContent(target), "target" },
                { new StringContent(rationale), "rationale" },
            };
            if (tagList is not null) form.Add(new StringContent(string.Join(',', tagList)), "tags");
            if (supersedes is { } s) form.Add(new StringContent(s.ToString()), "supersedes");
            try
            {
                return await SendAsync(HttpMethod.Post, "/edits", form, ct, ("Idempotency-Key", idempotencyKey));
            }
            catch (HostCallException e) when (attempt < ProposeAttempts && e.Status is null or 502 or 503 or 504)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500 * attempt), ct);
            }
        }
    }

    /// <summary>Tries of one proposal (the first and its retries).</summary>
    public const int ProposeAttempts = 3;

    public Task<JsonNode> ApproveAsync(Guid id, CancellationToken ct = default) => SendAsync(HttpMethod.Post, $"/edits/{id}/approve", null, ct);
    public Task<JsonNode> RejectAsync(Guid id, string reason, CancellationToken ct = default) => SendAsync(HttpMethod.Post, $"/edits/{id}/reject", JsonContent.Create(new { reason }), ct);
    public Task<JsonNode> RetractAsync(Guid id, string reason, CancellationToken ct = default) => SendAsync(HttpMethod.Post, $"/edits/{id}/retract", JsonContent.Create(new { reason }), ct);

    /// <summary>A decision (approve, reject, retract) signed by a person: user name and password given again, and the meaning (null: the decision's own).</summary>
    public Task<JsonNode> DecideSignedAsync(Guid id, string verb, string? reason, string userName, string password, string? meaning, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, $"/edits/{id}/{verb}", JsonContent.Create(new { reason, signature = new { userName, password, meaning } }), ct);
    public Task<JsonNode> ShowAsync(Guid id, CancellationToken ct = default) => SendAsync(HttpMethod.Get, $"/edits/{id}", null, ct);
    public Task<JsonNode> ListAsync(string? status, int take, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"/edits?take={take}" + (status is null ? "" : $"&status={Uri.EscapeDataString(status)}"), null, ct);
    public Task<JsonNode> VersionsAsync(long after, int limit, bool modelChangesOnly, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"/ledger/versions?after={after}&limit={limit}&modelChangesOnly={modelChangesOnly}", null, ct);
    public Task<JsonNode> DiffAsync(long from, long? to, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"/ledger/diff?from={from}" + (to is { } t ? $"&to={t}" : ""), null, ct);
    public Task<JsonNode> HeadAsync(CancellationToken ct = default) => SendAsync(HttpMethod.Get, "/ledger/head", null, ct);
    public Task<JsonNode> VerifyAsync(CancellationToken ct = default) => SendAsync(HttpMethod.Get, "/ledger/verify", null, ct);
    public Task<JsonNode> RoutingPolicyAsync(long? version, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, version is { } v ? $"/routing-policy?version={v}" : "/routing-policy", null, ct);
    public Task<JsonNode> SetRoutingPolicyAsync(object body, string? ifMatch, string? idempotencyKey, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, "/routing-policy", JsonContent.Create(body), ct,
            [.. ifMatch is null ? [] : new[] { ("If-Match", ifMatch) }, .. idempotencyKey is null ? [] : new[] { ("Idempotency-Key", idempotencyKey) }]);

    /// <param name="minVersion">At the head: the least version to answer at (read-your-writes after an edit became active at it).</param>
    public async Task<JsonNode> QueryAsync(byte[]? image, string prompt, string? asOf, CancellationToken ct = default, long? minVersion = null)
    {
        using var form = new MultipartFormDataContent { { new StringContent(prompt), "prompt" } };
        if (image is not null) form.Add(new ByteArrayContent(image) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", "query.png");
        if (asOf is not null) form.Add(new StringContent(asOf), "asOf");
        if (minVersion is { } least) form.Add(new StringContent(least.ToString(System.Globalization.CultureInfo.InvariantCulture)), "minVersion");
        return await SendAsync(HttpMethod.Post, "/query", form, ct);
    }

    /// <summary>Polls an edit until its status is one of <paramref name="statuses"/> or the time runs out.</summary>
    public async Task<JsonNode> WaitForStatusAsync(Guid id, TimeSpan patience, CancellationToken ct, params string[] statuses)
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            var edit = await ShowAsync(id, ct);
            var status = edit["edit"]?["status"]?.GetValue<string>() ?? "";
            if (statuses.Contains(status, StringComparer.OrdinalIgnoreCase)) return edit;
            if (DateTime.UtcNow > deadline) throw new HostCallException($"edit {id} is still '{status}' after {patience.TotalSeconds:0} s");
            await Task.Delay(100, ct);
        }
    }

    private async Task<JsonNode> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Add("X-Api-Key", apiKey);
        foreach (var (name, value) in headers) request.Headers.Add(name, value);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new HostCallException($"cannot reach the inference host at {baseAddress} ({e.Message}); start it with `liveedit serve`");
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                var problem = TryParse(text);
                var title = problem?["title"]?.GetValue<string>() ?? response.ReasonPhrase;
                // The host answers 401 and 403 without a body; say what they mean for the key the user passed.
                var detail = problem?["detail"]?.GetValue<string>() ?? response.StatusCode switch
                {
                    HttpStatusCode.Unauthorized => "the host knows no such API key",
                    HttpStatusCode.Forbidden => "this API key's role may not do this",
                    _ => null,
                };
                throw new HostCallException($"{(int)response.StatusCode} {title}{(detail is null ? "" : $": {detail}")}", (int)response.StatusCode);
            }
            return TryParse(text) ?? new JsonObject();
        }
    }

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return string.IsNullOrWhiteSpace(text) ? null : JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A failed call to the host, with the message to print.</summary>
internal sealed class HostCallException(string message, int? status = null) : Exception(message)
{
    public int? Status { get; } = status;
}
