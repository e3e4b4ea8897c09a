using System.Globalization;
using System.Text.Json;
using LiveEdit.Ledger;

namespace LiveEdit.Inference.Web;

/// <summary>One chained event as the UI shows it: who did what, when and why, and the signature it carries.</summary>
/// <param name="Version">Its global sequence: the ledger version it made.</param>
/// <param name="StreamId">The edit (or the ledger's routing-policy or incident stream) it belongs to.</param>
/// <param name="Change">What happened, in words.</param>
/// <param name="Who">Who did it (a person, a worker, the ledger itself).</param>
/// <param name="Why">The rationale or reason given, when any.</param>
/// <param name="Detail">What else identifies it: prompt and target, an expert's hash, a policy's values.</param>
/// <param name="Signature">The electronic signature it carries, in words (signer, time, meaning), when any.</param>
public sealed record LedgerEventView(long Version, DateTimeOffset Timestamp, Guid StreamId, string TypeName, string Change, string Who, string? Why, string? Detail, string? Signature)
{
    /// <summary>Whether the stream is an edit (not the routing policy or the incident stream).</summary>
    public bool IsEdit => StreamId != EditLedger.RoutingPolicyStreamId && StreamId != EditLedger.IncidentStreamId;

    /// <summary>Event type names (as stored) and the words the UI uses for them, in the order filters list them.</summary>
    public static readonly IReadOnlyList<(string Type, string Label)> Kinds =
    [
        (EventTypeNames.Proposed, "Proposed"),
        (EventTypeNames.Approved, "Approved"),
        (EventTypeNames.Rejected, "Rejected"),
        (EventTypeNames.ExpertGenerated, "Expert generated"),
        (EventTypeNames.Activated, "Activated"),
        (EventTypeNames.Retracted, "Retracted"),
        (EventTypeNames.Superseded, "Superseded"),
        (EventTypeNames.GenerationFailed, "Generation failed"),
        (EventTypeNames.RoutingPolicySet, "Routing policy set"),
        (EventTypeNames.IncidentAcknowledged, "Incident acknowledged"),
    ];

    private static readonly Dictionary<string, string> ClrToType = new(StringComparer.Ordinal)
    {
        ["EditProposed"] = EventTypeNames.Proposed,
        ["EditApproved"] = EventTypeNames.Approved,
        ["EditRejected"] = EventTypeNames.Rejected,
        ["ExpertGenerated"] = EventTypeNames.ExpertGenerated,
        ["EditActivated"] = EventTypeNames.Activated,
        ["EditRetracted"] = EventTypeNames.Retracted,
        ["EditSuperseded"] = EventTypeNames.Superseded,
        ["ExpertGenerationFailed"] = EventTypeNames.GenerationFailed,
        ["RoutingPolicySet"] = EventTypeNames.RoutingPolicySet,
        ["LedgerIncidentAcknowledged"] = EventTypeNames.IncidentAcknowledged,
    };

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    /// <summary>The view of a typed event (an edit's history entry).</summary>
    public static LedgerEventView FromEvent(long version, DateTimeOffset timestamp, Guid streamId, object data)
    {
        var type = ClrToType.TryGetValue(data.GetType().Name, out var t) ? t : data.GetType().Name;
        using var document = JsonSerializer.SerializeToDocument(data, data.GetType(), Web);
        return From(version, timestamp, streamId, type, document.RootElement);
    }

    /// <summary>The view of an event from its stored type name and JSON data (camel case).</summary>
    public static LedgerEventView From(long version, DateTimeOffset timestamp, Guid streamId, string type, JsonElement data)
    {
        string? S(string name) => data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var label = Kinds.FirstOrDefault(k => k.Type == type).Label ?? type;
        var (who, why, detail) = type switch
        {
            EventTypeNames.Proposed => (S("proposedBy"), S("rationale"), $"“{S("prompt")}” → “{S("target")}”"),
            EventTypeNames.Approved => (S("approvedBy"), null, null),
            EventTypeNames.Rejected => (S("rejectedBy"), S("reason"), null),
            EventTypeNames.ExpertGenerated => ("worker " + S("workerId"), null, "expert " + S("expertSha256")),
            EventTypeNames.Activated => ("the ledger", null, "expert " + S("expertSha256")),
            EventTypeNames.Retracted => (S("retractedBy"), S("reason"), null),
            EventTypeNames.Superseded => ("the ledger", null, "by edit " + S("supersededBy")),
            EventTypeNames.GenerationFailed => ("worker " + S("workerId"), S("reason"), S("code")),
            EventTypeNames.RoutingPolicySet => (S("setBy"), S("reason"), PolicyText(data)),
            EventTypeNames.IncidentAcknowledged => (S("acknowledgedBy"), S("reason"), S("kind")),
            _ => (null, null, null),
        };
        return new LedgerEventView(version, timestamp, streamId, type, label, who ?? "—", string.IsNullOrEmpty(why) ? null : why, detail, SignatureText(data));
    }

    private static string? PolicyText(JsonElement data)
    {
        if (!data.TryGetProperty("policy", out var p) || p.ValueKind != JsonValueKind.Object) return null;
        string N(string name) => p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble().ToString("0.###", CultureInfo.InvariantCulture) : "?";
        return $"margin {N("margin")}, band {N("band")}, hubness weight {N("hubnessWeight")}, top {N("hubnessTopK")}";
    }

    /// <summary>The signature an event carries (a <c>signature</c> object), as "signer (user) — meaning — time".</summary>
    public static string? SignatureText(JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty("signature", out var s) || s.ValueKind != JsonValueKind.Object) return null;
        string? S(params string[] names)
        {
            foreach (var name in names)
                if (s.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String) return v.GetString();
            return null;
        }
        var name = S("signerName", "displayName");
        var user = S("signerUserName", "userName");
        var meaning = S("meaning");
        var at = S("signedAt");
        var method = S("method");
        var who = name is null ? user : user is null || user == name ? name : $"{name} ({user})";
        var bound = s.TryGetProperty("binding", out var b) && b.ValueKind == JsonValueKind.Object && b.TryGetProperty("editContentSha256", out var content)
            && content.ValueKind == JsonValueKind.String && content.GetString() is { Length: >= 12 } hash ? $"bound to content {hash[..12]}…" : null;
        var at2 = DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? Time(t) : at;
        return string.Join(" — ", new[] { who, meaning, at2, method is null ? null : "signed with " + (method == "api-key" ? "an API key" : "a " + method), bound }.Where(x => !string.IsNullOrEmpty(x)));
    }

    /// <summary>A time as the UI writes it: UTC, to the second, with the zone named.</summary>
    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";
}
