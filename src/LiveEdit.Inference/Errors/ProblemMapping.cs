using System.Net.Sockets;
using LiveEdit.Ledger.Errors;
using LiveEdit.Model.World;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace LiveEdit.Inference.Errors;

/// <summary>
/// Turns the errors the ledger, the model and the database report into problem-details responses
/// (DESIGN.md §7): input → 400/422, unknown → 404, conflict → 409, too large → 413, database down → 503.
/// </summary>
public sealed class ProblemMapping(IProblemDetailsService problems, ILogger<ProblemMapping> log) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, title, code) = Classify(exception);
        if (status >= 500) log.LogError(exception, "{Title}", title);
        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = status,
                Title = title,
                Detail = exception.Message,
                Type = $"https://liveedit.local/problems/{code}",
                Extensions = { ["code"] = code },
            },
        });
    }

    /// <summary>Status, title and stable code for an exception.</summary>
    public static (int Status, string Title, string Code) Classify(Exception exception) => exception switch
    {
        ChainRefusedException e => (e.HttpStatus, "The ledger refuses appends until an integrity incident is acknowledged", e.Code),
        LedgerException e => (e.HttpStatus, Title(e.Kind), e.Code),
        UnreadableImageException => (StatusCodes.Status422UnprocessableEntity, "The image cannot be read", "unreadable_image"),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => (StatusCodes.Status413PayloadTooLarge, "The request is too large", "too_large"),
        BadHttpRequestException e => (e.StatusCode, "The request is malformed", "bad_request"),
        RequestInputException e => (e.Status, "The request is invalid", e.Code),
        NpgsqlException or SocketException or TimeoutException =>
            (StatusCodes.Status503ServiceUnavailable, "The ledger database is unavailable; try again shortly", "ledger_unavailable"),
        InvalidOperationException { InnerException: NpgsqlException or SocketException } =>
            (StatusCodes.Status503ServiceUnavailable, "The ledger database is unavailable; try again shortly", "ledger_unavailable"),
        _ => (StatusCodes.Status500InternalServerError, "Unexpected error", "internal"),
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
public sealed class RequestInputException(string code, string message, int status = StatusCodes.Status400BadRequest) : Exception(message)
{
    public string Code { get; } = code;
    public int Status { get; } = status;
}
