using System.Text.Json.Serialization;

namespace LiveEdit.Bench.Streams;

/// <summary>
/// <c>manifest.json</c> of a stream folder: what the stream is and where it came from.
/// </summary>
/// <param name="Format">Always <see cref="BenchStream.FormatName"/>.</param>
/// <param name="Version">Format version; readers refuse versions they do not know.</param>
/// <param name="Name">A short name (for example <c>synthworld-1000-s7</c> or <c>evqa-test</c>).</param>
/// <param name="Source">Where the cases came from (<c>synthworld</c>, <c>mmedit-evqa</c>, <c>mmedit-eic</c>, <c>vlkeb</c>).</param>
/// <param name="Cases">Number of lines in <c>cases.jsonl</c>.</param>
/// <param name="ImageSize">Side of the square PNG images, in pixels.</param>
/// <param name="Seed">The seed that generated the stream, when it was generated.</param>
/// <param name="Command">The command that wrote the stream.</param>
public sealed record StreamManifest(
    [property: JsonRequired] string Format,
    [property: JsonRequired] int Version,
    [property: JsonRequired] string Name,
    [property: JsonRequired] string Source,
    [property: JsonRequired] int Cases,
    [property: JsonRequired] int ImageSize,
    long? Seed,
    string? Command);
