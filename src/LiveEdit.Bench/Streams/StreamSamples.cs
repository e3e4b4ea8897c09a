using System.Globalization;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;

namespace LiveEdit.Bench.Streams;

/// <summary>A stream's cases as the editor's evaluation reads them; images are loaded on demand from the stream folder.</summary>
public static class StreamSamples
{
    /// <summary>
    /// One <see cref="EditSample"/> per case, in stream order (sample id = case index); images become
    /// <paramref name="model"/>'s own input (<see cref="IVisionLanguageModel.ImageInput"/>; without a model, [0, 1] pixels as stored).
    /// </summary>
    public static IReadOnlyList<EditSample> From(BenchStream stream, IVisionLanguageModel? model = null)
    {
        var samples = new List<EditSample>(stream.Cases.Count);
        for (var i = 0; i < stream.Cases.Count; i++)
        {
            var c = stream.Cases[i];
            var entity = TagValue(c, "entity") is { } e ? int.Parse(e, CultureInfo.InvariantCulture) : (int?)null;
            var attribute = TagValue(c, "attribute") ?? c.Edit.Prompt;
            var localityEntity = TagValue(c, "locality-entity") is { } le ? int.Parse(le, CultureInfo.InvariantCulture) : (int?)null;
            var localityFact = localityEntity is null ? null : TagValue(c, "locality-attribute");
            EditQuery Image(string path, string prompt, string answer, int? entityId, string? fact)
            {
                var full = stream.ImagePath(path);
                return new EditQuery(model is null ? () => RgbImage.Load(full).ToTensor() : () => model.ImageInput(RgbImage.Load(full)), prompt, answer, entityId, fact);
            }
            samples.Add(new EditSample(i, attribute,
                Image(c.Edit.Image, c.Edit.Prompt, c.Edit.Target, entity, attribute),
                Image(c.Edit.Image, c.TextGenerality.Prompt, c.Edit.Target, entity, attribute),
                Image(c.ImageGenerality.Image, c.ImageGenerality.Prompt, c.Edit.Target, entity, attribute),
                Image(c.ImageLocality.Image, c.ImageLocality.Prompt, c.ImageLocality.Answer, localityEntity, localityFact),
                new EditQuery(null, c.TextLocality.Prompt, c.TextLocality.Answer, null)));
        }
        return samples;
    }

    /// <summary>The value of a <c>name:value</c> tag, if the case has one.</summary>
    public static string? TagValue(BenchCase c, string name) =>
        c.Tags.FirstOrDefault(t => t.StartsWith(name + ":", StringComparison.Ordinal))?[(name.Length + 1)..];
}
