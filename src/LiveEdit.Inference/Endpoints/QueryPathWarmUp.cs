using LiveEdit.Hosting.Serving;
using LiveEdit.Model.Images;
using Microsoft.AspNetCore.Routing;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// Ready means ready over HTTP too: once the head model is warm, runs <c>POST /query</c>'s own handler once in process
/// (a multipart form with a PNG, decoded, answered at the head, the answer written as JSON into memory), so the form
/// reader, the image decoder and the answer's serializer are compiled before <c>/health/ready</c> says Healthy and the
/// first client's query costs what every other does. The warm-up query is not a client's: no query record is written
/// for it (<see cref="QueryEndpoints.IsWarmUp"/>). A failure is logged and does not hold readiness back.
/// </summary>
public sealed class QueryPathWarmUp(IServiceProvider services, EditedModelServer server, ILogger<QueryPathWarmUp> log) : BackgroundService
{
    private volatile bool _done;

    /// <summary>True once the query endpoint has run once (or its warm-up failed and was logged).</summary>
    public bool Done => _done;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!server.IsWarm) await Task.Delay(TimeSpan.FromMilliseconds(20), stoppingToken);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var status = await RunOnceAsync(stoppingToken);
            log.LogInformation("Query endpoint warmed up in {WarmUpMs:F0} ms (status {Status})", clock.Elapsed.TotalMilliseconds, status);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            log.LogWarning("Query endpoint warm-up failed ({Message}); the first query compiles what it needs", e.Message);
        }
        _done = true;
    }

    /// <summary>The caller the warm-up request names (never a key's or a person's: it reaches no record).</summary>
    public const string WarmUpCaller = "liveedit-warm-up";

    /// <summary>Runs the query endpoint's handler once on an in-memory request; returns the status it answered.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var endpoint = services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .First(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == QueryEndpoints.Name);
        await using var scope = services.CreateAsyncScope();
        const int side = 32;
        var png = new RgbImage(side, side, Enumerable.Repeat((byte)128, side * side * 3).ToArray()).ToPng();
        using var form = new MultipartFormDataContent("liveedit-warm-up");
        form.Add(new StringContent("what is this?"), "prompt");
        form.Add(new ByteArrayContent(png) { Headers = { ContentType = new("image/png") } }, "image", "warm-up.png");
        var body = await form.ReadAsByteArrayAsync(ct);
        var http = new DefaultHttpContext { RequestServices = scope.ServiceProvider, RequestAborted = ct };
        http.Request.Method = HttpMethods.Post;
        http.Request.Path = "/query";
        http.Request.ContentType = form.Headers.ContentType!.ToString();
        http.Request.ContentLength = body.Length;
        http.Request.Body = new MemoryStream(body);
        http.Response.Body = new MemoryStream();
        // A caller of its own, as authentication would set one; the item is what keeps its answer out of the query records.
        http.User = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity(
            [new System.Security.Claims.Claim(System.Security.Claims.ClaimTypes.Name, WarmUpCaller)], "warm-up"));
        http.Items[QueryEndpoints.WarmUpItem] = true;
        await endpoint.RequestDelegate!(http);
        return http.Response.StatusCode;
    }
}
