using System.Globalization;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger.Errors;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace LiveEdit.Inference.Web;

/// <summary>An error shown on a page: the same stable code and words the HTTP API answers with.</summary>
public sealed record UiError(int Status, string Code, string Message);

/// <summary>What every UI page shares: the signed-in person and errors in the API's words.</summary>
public abstract class UiPage : PageModel
{
    /// <summary>The error to show, when the last action failed.</summary>
    public UiError? Error { get; protected set; }

    /// <summary>A line saying what the last action did, when it succeeded.</summary>
    [Microsoft.AspNetCore.Mvc.TempData]
    public string? Notice { get; set; }

    /// <summary>The signed-in user's ledger name.</summary>
    public string Actor => User.Identity?.Name ?? "";

    /// <summary>Whether the user may read every edit (approver, auditor, admin).</summary>
    public bool ReadsAll => User.IsInRole(Roles.Approver) || User.IsInRole(Roles.Auditor) || User.IsInRole(Roles.Admin);

    /// <summary>Runs an action; an error the host classifies (bad input, a ledger rule) is kept for the page, with its status.</summary>
    protected async Task<bool> TryAsync(Func<Task> action)
    {
        try
        {
            await action();
            return true;
        }
        catch (Exception e) when (e is RequestInputException or LedgerException or LiveEdit.Model.Images.UnreadableImageException or ArgumentException)
        {
            Error = Describe(e);
            Response.StatusCode = Error.Status;
            return false;
        }
    }

    /// <summary>The API's code and message for an exception.</summary>
    public static UiError Describe(Exception e)
    {
        if (e is ArgumentException a) return new UiError(400, "bad_request", Printable.Escape(a.Message, ProblemMapping.MaxDetail));
        var (status, _, code) = ProblemMapping.Classify(e);
        return new UiError(status, code, Printable.Escape(e.Message, ProblemMapping.MaxDetail));
    }

    /// <summary>A field's value checked as the API checks text (length, control characters).</summary>
    protected static string? Text(string field, string? value, int maxLength, bool required = false, string allowedControls = "")
    {
        if (string.IsNullOrWhiteSpace(value))
            return required ? throw new RequestInputException("missing_field", $"'{field}' is required and must not be empty") : null;
        return Endpoints.Forms.Text(field, value, maxLength, allowedControls);
    }

    /// <summary>A version number or an ISO-8601 time (with Z or an offset) in a field; null when empty.</summary>
    protected static LiveEdit.Hosting.Serving.AsOf? Moment(string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var text = Text(field, value.Trim(), 64)!;
        if (!LiveEdit.Hosting.Serving.AsOf.TryParse(text, out var asOf, out var problem))
            throw new RequestInputException("bad_" + Snake(field), $"'{field}': {Printable.Escape(problem!)}");
        return asOf;
    }

    /// <summary>A UTC date or time in a filter field (2026-03-03, or an ISO-8601 time); null when empty.</summary>
    protected static DateTimeOffset? Date(string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var text = Text(field, value.Trim(), 64)!;
        string[] formats = ["yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mmK"];
        if (DateTimeOffset.TryParseExact(text, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)) return t;
        throw new RequestInputException("bad_" + Snake(field), $"'{field}' '{Printable.Excerpt(text)}' is not a date (2026-03-03) or an ISO-8601 time (2026-03-03T14:00:00Z)");
    }

    private static string Snake(string field) => string.Concat(field.Select(c => char.IsUpper(c) ? "_" + char.ToLowerInvariant(c) : c.ToString()));
}
