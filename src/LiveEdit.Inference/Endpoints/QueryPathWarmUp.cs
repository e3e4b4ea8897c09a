using System.Net;
using System.Net.Sockets;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Model.Images;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Routing;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// Ready means ready over HTTP too: once the head model is warm and the server listens, sends one real
/// <c>POST /query</c> (a multipart form with a PNG) to the host's own address, so Kestrel's request path, the failed-key
/// limiter, authentication, authorization, telemetry, the form reader, the image decoder and the answer's JSON are all
/// compiled before <c>/health/ready</c> says Healthy, and the first client's query costs what every other does. The
/// request presents a <see cref="WarmUpKey"/>: made in memory for it, good for that one request, for the query only.
/// Where the host has no plain-HTTP address to reach (HTTPS only), or the request fails, the query endpoint's handler
/// runs once in process instead. The warm-up query is not a client's: no query record is written for it
/// (<see cref="QueryEndpoints.IsWarmUp"/>). A failure is logged and does not hold readiness back.
/// </summary>
public sealed class QueryPathWarmUp(IServiceProvider services, EditedModelServer server, ILogger<QueryPathWarmUp> log) : BackgroundService
{
    /// <summary>How long the request over HTTP may take before the warm-up gives up on it.</summary>
    public static readonly TimeSpan HttpPatience = TimeSpan.FromSeconds(30);

    private volatile bool _done;

    /// <summary>True once the query endpoint has run once (or its warm-up failed and was logged).</summary>
    public bool Done => _done;

    /// <summary>How the warm-up ran: the address its request went to, or <c>in process</c>; null before it has run.</summary>
    public string? Route { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!server.IsWarm) await Task.Delay(TimeSpan.FromMilliseconds(20), stoppingToken);
            await ServerStartedAsync(stoppingToken);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                await WarmUpImagesAsync(stoppingToken);
                WarmUpAnswerJson();
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                log.LogWarning("Warming the image decoders failed ({Message}); the query endpoint is warmed all the same", e.Message);
            }
            int? status = null;
            try
            {
                status = await RunOverHttpAsync(stoppingToken);
                if (status is null) log.LogInformation("No plain-HTTP address to warm the query endpoint over; it is warmed in process (the middleware's first run is left to the first client)");
                else if (status != StatusCodes.Status200OK) log.LogWarning("The warm-up query over HTTP was answered {Status}; the query endpoint is warmed in process", status);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                log.LogWarning("The warm-up query over HTTP failed ({Message}); the query endpoint is warmed in process", e.Message);
            }
            if (status != StatusCodes.Status200OK)
            {
                status = await RunOnceAsync(stoppingToken);
                Route = "in process";
            }
            log.LogInformation("Query endpoint warmed up in {WarmUpMs:F0} ms ({Route}, status {Status})", clock.Elapsed.TotalMilliseconds, Route, status);
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

    private async Task ServerStartedAsync(CancellationToken ct)
    {
        var started = services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted;
        if (started.IsCancellationRequested) return;
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var _ = started.Register(() => signal.TrySetResult());
        await signal.Task.WaitAsync(ct);
    }

    /// <summary>
    /// Sends one <c>POST /query</c> to the host's own address with a fresh <see cref="WarmUpKey"/>, dropped when the request
    /// ends whatever happened; returns the status answered, or null when the server has no address it can reach (see
    /// <see cref="ChooseTarget"/>).
    /// </summary>
    public async Task<int?> RunOverHttpAsync(CancellationToken ct)
    {
        var addresses = services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        if (ChooseTarget(addresses) is not { } target) return null;
        var warmUpKey = services.GetRequiredService<WarmUpKey>();
        using var handler = new SocketsHttpHandler
        {
            // The key goes to this process's own socket and nowhere else: no proxy from the environment, no redirect.
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            ConnectTimeout = HttpPatience,
        };
        if (target.UnixSocket is { } socketPath)
        {
            handler.ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        using var client = new HttpClient(handler) { BaseAddress = target.Uri, Timeout = HttpPatience };
        var status = 0;
        for (var i = 0; i < Requests && status is 0 or StatusCodes.Status200OK; i++)
        {
            using var form = WarmUpForm(out _);
            using var request = new HttpRequestMessage(HttpMethod.Post, "/query") { Content = form };
            try
            {
                request.Headers.Add(ApiKeyAuthentication.Header, warmUpKey.Issue());
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
                Route = target.UnixSocket is null ? target.Uri.ToString() : $"unix:{target.UnixSocket}";
                status = (int)response.StatusCode;
            }
            finally
            {
                warmUpKey.Revoke();
            }
        }
        return status;
    }

    /// <summary>
    /// Requests the warm-up sends over HTTP, one after the other, each with a key of its own. The services a request
    /// creates are built by reflection at first, then the container compiles a builder that runs from the third request
    /// on: three requests leave a client's first none of it to compile.
    /// </summary>
    public const int Requests = 3;

    /// <summary>
    /// Decodes the warm-up picture as a JPEG too and brings it to a smaller and a larger square, through the same image gate
    /// a client's upload goes through, so that neither decoder nor resizing is first compiled by a client's query.
    /// </summary>
    private async Task WarmUpImagesAsync(CancellationToken ct)
    {
        var runtime = services.GetRequiredService<ModelRuntime>();
        var picture = WarmUpPicture();
        using var jpeg = new MemoryStream();
        new StbImageWriteSharp.ImageWriter().WriteJpg(picture.Pixels, picture.Width, picture.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, jpeg, 90);
        var gate = services.GetRequiredService<ImageGate>();
        foreach (var bytes in new[] { jpeg.ToArray(), picture.ToPng(), WarmUpPng() })
        {
            var decoded = await gate.DecodeAsync(runtime, bytes, "the warm-up image", ct);
            decoded.CenterSquare(decoded.Height / 2);
            decoded.CenterSquare(decoded.Height * 2);
        }
    }

    /// <summary>Where the warm-up request goes: a URI and, for a Unix socket, the socket's path.</summary>
    public sealed record Target(Uri Uri, string? UnixSocket);

    /// <summary>
    /// Chooses the address to send the warm-up request to from the server's listening addresses: plain HTTP only (an
    /// HTTPS endpoint's certificate need not name the address dialled, and the key is not sent where the server's
    /// certificate is not checked); a wildcard (<c>0.0.0.0</c>, <c>[::]</c>, <c>+</c>, <c>*</c>, a host name) or
    /// <c>localhost</c> becomes the loopback address, a specific address is dialled as it is (it is this host's own), a
    /// Unix socket is connected to by its path. Loopback first, then specific addresses, then sockets; null when none.
    /// </summary>
    public static Target? ChooseTarget(IEnumerable<string> addresses)
    {
        var candidates = new List<(int Rank, Target Target)>();
        foreach (var address in addresses)
        {
            const string http = "http://";
            if (!address.StartsWith(http, StringComparison.OrdinalIgnoreCase)) continue;
            var rest = address[http.Length..];
            if (rest.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
            {
                var path = rest["unix:".Length..];
                if (path.Length > 0) candidates.Add((3, new Target(new Uri("http://localhost/"), path)));
                continue;
            }
            var authority = rest.Split('/', 2)[0];
            var colon = authority.LastIndexOf(':');
            if (colon < 0 || authority.EndsWith(']')) continue; // Kestrel reports the port it bound; no port, nothing to dial
            var host = authority[..colon].Trim('[', ']');
            if (!int.TryParse(authority[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
                || port is < 1 or > 65535) continue;
            var (rank, ip) = IPAddress.TryParse(host, out var parsed)
                ? parsed.Equals(IPAddress.Any) ? (1, IPAddress.Loopback)
                : parsed.Equals(IPAddress.IPv6Any) ? (1, IPAddress.IPv6Loopback)
                : IPAddress.IsLoopback(parsed) ? (0, parsed)
                : (2, parsed)
                : (1, IPAddress.Loopback); // localhost, +, * or a name: Kestrel listens on every address (or both loopbacks)
            var literal = ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
            candidates.Add((rank, new Target(new Uri($"http://{literal}:{port}/"), null)));
        }
        return candidates.OrderBy(c => c.Rank).Select(c => c.Target).FirstOrDefault();
    }

    /// <summary>Runs the query endpoint's handler once on an in-memory request (no middleware); returns the status it answered.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var endpoint = services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .First(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == QueryEndpoints.Name);
        await using var scope = services.CreateAsyncScope();
        using var form = WarmUpForm(out var contentType);
        var body = await form.ReadAsByteArrayAsync(ct);
        var http = new DefaultHttpContext { RequestServices = scope.ServiceProvider, RequestAborted = ct };
        http.Request.Method = HttpMethods.Post;
        http.Request.Path = "/query";
        http.Request.ContentType = contentType;
        http.Request.ContentLength = body.Length;
        http.Request.Body = new MemoryStream(body);
        http.Response.Body = new MemoryStream();
        // The caller authentication gives a warm-up key; the item is what keeps its answer out of the query records.
        http.User = WarmUpKey.Principal("warm-up");
        http.Items[QueryEndpoints.WarmUpItem] = true;
        await endpoint.RequestDelegate!(http);
        return http.Response.StatusCode;
    }

    /// <summary>
    /// Writes an answer with an expert that fired and one left out, with the options the endpoint writes answers with: the
    /// warm-up's own answers may name no expert (its picture need not pass any expert's filter), a client's often does.
    /// </summary>
    private void WarmUpAnswerJson()
    {
        var options = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        var answer = new QueryEndpoints.QueryResponse("warm-up", 0, "head", [new ExpertInAnswer(Guid.Empty, 1, 1, 0, 0)], ["warm-up"],
            [new SkippedExpert(Guid.Empty, new string('0', 64), "warm-up")]);
        System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(answer, options);
    }

    /// <summary>
    /// The warm-up picture: a client's kind of image, not a blank one: textured (its PNG is compressed with the codes a
    /// photograph gets, not the few a flat image needs) and neither square nor of any model's input size, so that
    /// decoding, cropping and resizing all run as they do for a client's upload.
    /// </summary>
    private static RgbImage WarmUpPicture()
    {
        const int width = 96, height = 72;
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var at = (y * width + x) * 3;
            pixels[at] = (byte)(x * 5 + y * 3);
            pixels[at + 1] = (byte)(x * y);
            pixels[at + 2] = (byte)((x ^ y) * 7);
        }
        return new RgbImage(width, height, pixels);
    }

    /// <summary>
    /// <see cref="WarmUpPicture"/> as the PNG a camera or an image library writes: deflated with dynamic Huffman codes (the
    /// model's own <see cref="RgbImage.ToPng"/> writes fixed codes only, which leave part of the decoder unrun).
    /// </summary>
    private static byte[] WarmUpPng()
    {
        var picture = WarmUpPicture();
        using var raw = new MemoryStream();
        using (var deflate = new System.IO.Compression.ZLibStream(raw, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
        {
            for (var y = 0; y < picture.Height; y++)
            {
                deflate.WriteByte(0); // no filter
                deflate.Write(picture.Pixels, y * picture.Width * 3, picture.Width * 3);
            }
        }
        var header = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, picture.Width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), picture.Height);
        header[8] = 8; // bits per sample
        header[9] = 2; // RGB
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", raw.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();

        static void Chunk(Stream output, string type, byte[] data)
        {
            Span<byte> number = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(number, data.Length);
            output.Write(number);
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            output.Write(typed);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(number, Crc32(typed));
            output.Write(number);
        }

        static uint Crc32(byte[] bytes)
        {
            var crc = 0xFFFFFFFFu;
            foreach (var b in bytes)
            {
                crc ^= b;
                for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
            return ~crc;
        }
    }

    /// <summary>The warm-up question: <see cref="WarmUpPng"/> and a prompt.</summary>
    private static MultipartFormDataContent WarmUpForm(out string contentType)
    {
        var png = WarmUpPng();
        var form = new MultipartFormDataContent("liveedit-warm-up");
        form.Add(new StringContent("what is this?"), "prompt");
        form.Add(new ByteArrayContent(png) { Headers = { ContentType = new("image/png") } }, "image", "warm-up.png");
        contentType = form.Headers.ContentType!.ToString();
        return form;
    }
}
