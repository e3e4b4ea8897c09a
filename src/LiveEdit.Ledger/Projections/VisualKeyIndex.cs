using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using JasperFx.Events;
using LiveEdit.Ledger.Edits;
using Marten.Events.Projections;

namespace LiveEdit.Ledger.Projections;

/// <summary>The visual key of one edit's expert (k×d_m floats, row-major).</summary>
/// <param name="VisualKey">Stored as base64 of little-endian float32: bit-exact and about half the size of JSON numbers.</param>
public sealed record VisualKeyEntry(
    Guid EditId,
    string ExpertSha256,
    string GeneratorSha256,
    int KeyRows,
    int KeyDim,
    [property: JsonConverter(typeof(Float32Base64Converter))] float[] VisualKey,
    long? ActivatedAtVersion);

/// <summary>Writes a float array as base64 of its little-endian float32 bytes; reads that or a JSON number array.</summary>
public sealed class Float32Base64Converter : JsonConverter<float[]>
{
    public override float[] Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            var values = new List<float>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) values.Add(reader.GetSingle());
            return values.ToArray();
        }
        var bytes = reader.GetBytesFromBase64();
        if (bytes.Length % 4 != 0) throw new JsonException("a float32 array needs a multiple of 4 bytes");
        var floats = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        return floats;
    }

    public override void Write(Utf8JsonWriter writer, float[] value, JsonSerializerOptions options)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        writer.WriteBase64StringValue(MemoryMarshal.AsBytes(value.AsSpan()));
    }
}

/// <summary>
/// The active-expert / visual-key index at the head of the ledger: per active edit the expert hash and
/// its key vectors, in activation order. A single document (<see cref="DocumentId"/>) maintained by the
/// async daemon; <see cref="Pending"/> keeps the keys of experts whose edit is not active yet.
/// </summary>
public sealed class VisualKeyIndex
{
    /// <summary>The id of the one index document.</summary>
    public const string DocumentId = "visual-key-index";

    public string Id { get; set; } = DocumentId;

    /// <summary>Active edits in activation order.</summary>
    public List<VisualKeyEntry> Active { get; set; } = [];

    /// <summary>Generated experts whose edit has not become active (yet).</summary>
    public Dictionary<Guid, VisualKeyEntry> Pending { get; set; } = [];

    /// <summary>Global sequence of the last event applied.</summary>
    public long LastVersion { get; set; }
}

/// <summary>Async projection that maintains <see cref="VisualKeyIndex"/> from the raw events.</summary>
public sealed class VisualKeyIndexProjection : MultiStreamProjection<VisualKeyIndex, string>
{
    public VisualKeyIndexProjection()
    {
        Identity<ExpertGenerated>(_ => VisualKeyIndex.DocumentId);
        Identity<EditActivated>(_ => VisualKeyIndex.DocumentId);
        Identity<EditRetracted>(_ => VisualKeyIndex.DocumentId);
        Identity<EditRejected>(_ => VisualKeyIndex.DocumentId);
        Identity<EditSuperseded>(_ => VisualKeyIndex.DocumentId);
        // One document takes every event: each batch rewrites it whole, so fewer, larger batches.
        Options.BatchSize = 5_000;
    }

    public override VisualKeyIndex? Evolve(VisualKeyIndex? snapshot, string id, IEvent e)
    {
        var index = snapshot ?? new VisualKeyIndex { Id = id };
        switch (e.Data)
        {
            case ExpertGenerated g:
                index.Pending[g.EditId] = new VisualKeyEntry(g.EditId, g.ExpertSha256, g.GeneratorSha256, g.KeyRows, g.KeyDim, g.VisualKey, null);
                break;
            case EditActivated a when index.Pending.Remove(a.EditId, out var entry):
                index.Active.Add(entry with { ActivatedAtVersion = e.Sequence });
                break;
            case EditRetracted or EditRejected or EditSuperseded:
                var editId = e.StreamId;
                index.Pending.Remove(editId);
                index.Active.RemoveAll(x => x.EditId == editId);
                break;
        }
        index.LastVersion = e.Sequence;
        return index;
    }
}
