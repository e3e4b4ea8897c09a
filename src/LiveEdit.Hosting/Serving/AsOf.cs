using System.Globalization;

namespace LiveEdit.Hosting.Serving;

/// <summary>Which model version a query asks for: the head, a global sequence, or a moment.</summary>
public abstract record AsOf
{
    private AsOf() { }

    /// <summary>The newest version.</summary>
    public sealed record Head : AsOf;

    /// <summary>The version after global event sequence <paramref name="Version"/> (0: before the first event).</summary>
    public sealed record Sequence(long Version) : AsOf;

    /// <summary>The version in force at <paramref name="Moment"/>.</summary>
    public sealed record Timestamp(DateTimeOffset Moment) : AsOf;

    /// <summary>The head.</summary>
    public static AsOf Now { get; } = new Head();

    private static readonly System.Text.RegularExpressions.Regex IsoTime = new(
        @"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>
    /// Parses <c>asOf</c>: empty → head, an integer → sequence, an ISO-8601 date/time (with offset or Z) →
    /// timestamp. Returns false with a reason otherwise.
    /// </summary>
    public static bool TryParse(string? text, out AsOf asOf, out string? problem)
    {
        asOf = Now;
        problem = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            // Version 0 is the ledger before its first event: the base model with no expert.
            asOf = new Sequence(version);
            return true;
        }
        // ISO-8601 with an explicit zone only: "03/01/2026" means different days in different places.
        if (IsoTime.IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var moment))
        {
            asOf = new Timestamp(moment);
            return true;
        }
        problem = $"asOf '{(text.Length > 40 ? text[..40] + "…" : text)}' is neither a version number nor an ISO-8601 time with Z or an offset (e.g. 2026-03-01T00:00:00Z)";
        return false;
    }
}
