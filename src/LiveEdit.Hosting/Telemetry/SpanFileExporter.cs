using System.Diagnostics;
using System.Text.Json;
using OpenTelemetry;
using OpenTelemetry.Resources;

namespace LiveEdit.Hosting.Telemetry;

/// <summary>
/// Appends one JSON object a line per finished span to a file (<c>Telemetry:File</c>): trace and span ids, parent, name,
/// kind, source, service, start, duration, status, tags and links. For tests and debugging: it writes as each span ends.
/// Several processes may each write a file of their own; a reader may read while it is written.
/// </summary>
public sealed class SpanFileExporter : BaseExporter<Activity>
{
    private readonly FileStream _file;
    private readonly Lock _gate = new();
    private string? _service;

    /// <summary>Opens (creating or appending to) <paramref name="path"/>.</summary>
    public SpanFileExporter(string path)
    {
        if (Path.GetDirectoryName(path) is { Length: > 0 } folder) Directory.CreateDirectory(folder);
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
    }

    public override ExportResult Export(in Batch<Activity> batch)
    {
        _service ??= ParentProvider?.GetResource().Attributes.FirstOrDefault(a => a.Key == "service.name").Value as string ?? "";
        using var buffer = new MemoryStream();
        foreach (var activity in batch)
        {
            using (var json = new Utf8JsonWriter(buffer))
            {
                Write(json, activity, _service);
            }
            buffer.WriteByte((byte)'\n');
        }
        lock (_gate)
        {
            buffer.Position = 0;
            buffer.CopyTo(_file);
            _file.Flush();
        }
        return ExportResult.Success;
    }

    private static void Write(Utf8JsonWriter json, Activity activity, string service)
    {
        json.WriteStartObject();
        json.WriteString("traceId", activity.TraceId.ToHexString());
        json.WriteString("spanId", activity.SpanId.ToHexString());
        json.WriteString("parentSpanId", activity.ParentSpanId == default ? "" : activity.ParentSpanId.ToHexString());
        json.WriteString("name", activity.DisplayName);
        json.WriteString("kind", activity.Kind.ToString());
        json.WriteString("source", activity.Source.Name);
        json.WriteString("service", service);
        json.WriteString("start", activity.StartTimeUtc.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        json.WriteNumber("durationMs", activity.Duration.TotalMilliseconds);
        json.WriteString("status", activity.Status.ToString());
        json.WriteStartObject("tags");
        foreach (var (key, value) in activity.EnumerateTagObjects()) json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
        json.WriteEndObject();
        json.WriteStartArray("links");
        foreach (var link in activity.Links)
        {
            json.WriteStartObject();
            json.WriteString("traceId", link.Context.TraceId.ToHexString());
            json.WriteString("spanId", link.Context.SpanId.ToHexString());
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_gate) _file.Dispose();
        }
        base.Dispose(disposing);
    }
}
