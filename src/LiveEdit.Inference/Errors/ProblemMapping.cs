using System.Net.Sockets;
using LiveEdit.Ledger.Errors;
using LiveEdit.Model.Images;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace LiveEdit.Inference.Errors;

/// <summary>
/// Turns the errors the ledger, the model and the database report into problem-details responses
/// (docs/architecture.md): input → 400/422, unknown → 404, conflict → 409, too large → 413, database down → 503.
/// </summary>
public sealed class ProblemMapping(IProblemDetailsService problems, ILogger<ProblemMapping> log, IHostEnvironment environment) : IExceptionHandler
{
    /// <summary>Longest <c>detail</c> a response carries.</summary>
    public const int MaxDetail = 600;

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, code) = Classify(exception);
        var trace = System.Diagnostics.Activity.Current?.Id ?? context.TraceIdentifier;
        if (status >= 500) log.LogError(exception, "{Title} (trace {Trace})", title, trace);
        // Only errors the host classified carry their message; an unexpected one may hold SQL or internals, which
        // only a Development run shows.
        var detail = status == StatusCodes.Status500InternalServerError && !environment.IsDevelopment()
            ? $"an unexpected error; the host's log has it under trace id {trace}"
            : Printable.Escape(Detail(exception), MaxDetail);
        context.Response.StatusCode = status;
        var extensions = new Dictionary<string, object?> { ["code"] = code, ["traceId"] = trace };
        if (exception is RequestInputException input)
        {
            foreach (var (name, value) in input.Headers) context.Response.Headers[name] = value;
            foreach (var (name, value) in input.Extensions) extensions[name] = value;
        }
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = status,
                Title = title,
                Detail = detail,
                Type = $"https://liveedit.local/problems/{code}",
                Extensions = extensions,
            },
        });
    }

    /// <summary>
    /// Gives a problem the host wrote without an exception (status-code pages: 401, 403, 404, 405, 415 from binding) a
    /// stable code and a detail too, so every problem body has the same shape.
    /// </summary>
    public static void AddCode(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        if (problem.Extensions.ContainsKey("code")) return;
        var status = problem.Status ?? context.HttpContext.Response.StatusCode;
        var (code, detail) = status switch
        {
            StatusCodes.Status401Unauthorized => ("unauthorized", "the host knows no such API key"),
            StatusCodes.Status403Forbidden => ("forbidden", "this API key's role may not do this"),
            StatusCodes.Status404NotFound => ("not_found", "no such resource"),
            StatusCodes.Status405MethodNotAllowed => ("method_not_allowed", "this resource does not take this method"),
            StatusCodes.Status415UnsupportedMediaType => ("unsupported_media_type", "send the body as application/json"),
            _ => ("http_" + status, problem.Title ?? "the request failed"),
        };
        problem.Extensions["code"] = code;
        problem.Detail ??= detail;
    }

    /// <summary>Status, title and stable code for an exception.</summary>
    public static (int Status, string Title, string Code) Classify(Exception exception) => exception switch
    {
        ChainRefusedException e => (e.HttpStatus, "The ledger refuses appends until an integrity incident is acknowledged", e.Code),
        LedgerException e => (e.HttpStatus, Title(e.Kind), e.Code),
        UnreadableImageException { UnsupportedFormat: true } => (StatusCodes.Status415UnsupportedMediaType, "The image format is not accepted", "unsupported_image_format"),
        UnreadableImageException { TooLarge: true } => (StatusCodes.Status422UnprocessableEntity, "The image is too large to decode", "image_too_large"),
        UnreadableImageException => (StatusCodes.Status422UnprocessableEntity, "The image cannot be read", "unreadable_image"),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => (StatusCodes.Status413PayloadTooLarge, "The request is too large", "too_large"),
        BadHttpRequestException { InnerException: System.Text.Json.JsonException } => (StatusCodes.Status400BadRequest, "The request is malformed", "bad_json"),
        BadHttpRequestException { StatusCode: StatusCodes.Status415UnsupportedMediaType } => (StatusCodes.Status415UnsupportedMediaType, "The content type is not supported", "unsupported_media_type"),
        BadHttpRequestException e => (e.StatusCode, "The request is malformed", "bad_request"),
        RequestInputException e => (e.Status, "The request is invalid", e.Code),
        NpgsqlException or SocketException or TimeoutException =>
            (StatusCodes.Status503ServiceUnavailable, "The ledger database is unavailable; try again shortly", "ledger_unavailable"),
        InvalidOperationException { InnerException: NpgsqlException or SocketException } =>
            (StatusCodes.Status503ServiceUnavailable, "The ledger database is unavailable; try again shortly", "ledger_unavailable"),
        _ => (StatusCodes.Status500InternalServerError, "Unexpected error", "internal"),
    };

    /// <summary>The message a client sees: the host's own words, never a parser's or a driver's.</summary>
    private static string Detail(Exception exception) => exception switch
    {
        BadHttpRequestException { InnerException: System.Text.Json.JsonException } => "the body is not valid JSON of the expected shape (e.g. {\"reason\": \"…\"})",
        BadHttpRequestException { StatusCode: StatusCodes.Status415UnsupportedMediaType } => "send the body as application/json",
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => exception.Message,
        BadHttpRequestException e when System.Text.RegularExpressions.Regex.Match(e.Message, "^Failed to bind parameter \"[^\"]* (\\w+)\"") is { Success: true } m =>
            $"'{m.Groups[1].Value}' has a value of the wrong type",
        BadHttpRequestException e when System.Text.RegularExpressions.Regex.Match(e.Message, "^Required parameter \"[^\"]* (\\w+)\"") is { Success: true } m =>
            $"'{m.Groups[1].Value}' is required",
        BadHttpRequestException => "the request is malformed",
        NpgsqlException or SocketException or TimeoutException or InvalidOperationException { InnerException: NpgsqlException or SocketException } =>
            "the ledger database did not answer",
        _ => exception.Message,
    };

    private static string Title(LedgerErrorKind kind) => kind switch
    {
        LedgerErrorKind.InvalidInput => "The request is invalid",
        LedgerErrorKind.NotFound => "Not found",
        LedgerErrorKind.Conflict => "Conflict with the ledger's current state",
        LedgerErrorKind.RuleViolation => "The ledger's rules forbid this",
        _ => "The ledger's stored data failed an integrity check",
    };
}

/// <summary>Bad request input found by the host itself (missing form field, bad asOf, oversized file).</summary>
public sealed class RequestInputException(string code, string message, int status = StatusCodes.Status400BadRequest,
    IReadOnlyDictionary<string, string>? headers = null, IReadOnlyDictionary<string, object>? extensions = null) : Exception(message)
{
    public string Code { get; } = code;
    public int Status { get; } = status;

    /// <summary>Response headers the answer carries (Retry-After, ETag); set here because the error path clears earlier ones.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; } = headers ?? new Dictionary<string, string>();

    /// <summary>Extra members of the problem body.</summary>
    public IReadOnlyDictionary<string, object> Extensions { get; } = extensions ?? new Dictionary<string, object>();
}
