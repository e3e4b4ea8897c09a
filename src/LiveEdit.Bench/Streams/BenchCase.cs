using System.Text.Json.Serialization;

namespace LiveEdit.Bench.Streams;

/// <summary>
/// One line of a stream's <c>cases.jsonl</c>: an edit and the four probes of the MMEdit/VLKEB protocol.
/// Image paths are relative to the stream folder.
/// </summary>
public sealed record BenchCase(
    [property: JsonRequired] string Id,
    [property: JsonRequired] IReadOnlyList<string> Tags,
    [property: JsonRequired] EditProbe Edit,
    [property: JsonRequired] TextProbe TextGenerality,
    [property: JsonRequired] ImageProbe ImageGenerality,
    [property: JsonRequired] AnsweredTextProbe TextLocality,
    [property: JsonRequired] AnsweredImageProbe ImageLocality);

/// <summary>The edit itself: on this image, <see cref="Prompt"/> must now be answered with <see cref="Target"/>.</summary>
public sealed record EditProbe([property: JsonRequired] string Image, [property: JsonRequired] string Prompt, [property: JsonRequired] string Target);

/// <summary>Text generality: the edit image with a paraphrased prompt; the expected answer is the edit's target.</summary>
public sealed record TextProbe([property: JsonRequired] string Prompt);

/// <summary>Image generality: another image of the same subject; the expected answer is the edit's target.</summary>
public sealed record ImageProbe([property: JsonRequired] string Image, [property: JsonRequired] string Prompt);

/// <summary>Text locality: a text-only question whose answer the edit must not change.</summary>
public sealed record AnsweredTextProbe([property: JsonRequired] string Prompt, [property: JsonRequired] string Answer);

/// <summary>Image locality: an unrelated image and question whose answer the edit must not change.</summary>
public sealed record AnsweredImageProbe([property: JsonRequired] string Image, [property: JsonRequired] string Prompt, [property: JsonRequired] string Answer);
