using LiveEdit.Model.Images;
using LiveEdit.Research.World;

namespace LiveEdit.Bench.Streams;

/// <summary>Writes SynthWorld benchmark streams: the same seed gives the same files, byte for byte.</summary>
public static class SynthWorldStreams
{
    /// <summary>Converts SynthWorld edit cases into stream cases and their images.</summary>
    /// <param name="factTags">
    /// Tag each case with the fact it edits (<c>entity:</c>, <c>attribute:</c>); without them no edit of the stream supersedes
    /// another when replayed, so every edit stays active (a stream for measuring at scale).
    /// </param>
    public static (List<BenchCase> Cases, Dictionary<string, RgbImage> Images) Convert(IReadOnlyList<EditCase> cases, bool factTags = true)
    {
        var result = new List<BenchCase>(cases.Count);
        var images = new Dictionary<string, RgbImage>(StringComparer.Ordinal);
        foreach (var c in cases)
        {
            var id = $"sw-{c.Id:D6}";
            string Image(string role, RgbImage image)
            {
                var path = $"{BenchStream.ImagesFolder}/{id}-{role}.png";
                images[path] = image;
                return path;
            }
            var tags = factTags
                ? new List<string> { "synthworld", $"entity:{c.Entity.Id}", $"family:{c.Entity.Family}", $"attribute:{c.Attribute.ToString().ToLowerInvariant()}" }
                : new List<string> { "synthworld", $"family:{c.Entity.Family}" };
            if (c.LocalityIsSibling) tags.Add("locality:sibling");
            // The image-locality question's fact, so that an evaluation can tell when a later edit changed it.
            tags.Add($"locality-entity:{c.ImageLocality.EntityId}");
            tags.Add($"locality-attribute:{c.ImageLocality.Attribute.ToLowerInvariant()}");
            result.Add(new BenchCase(id, tags,
                new EditProbe(Image("edit", c.Edit.Image!), c.Edit.Prompt, c.NewTarget),
                new TextProbe(c.TextGenerality.Prompt),
                new ImageProbe(Image("mgen", c.ImageGenerality.Image!), c.ImageGenerality.Prompt),
                new AnsweredTextProbe(c.TextLocality.Prompt, c.TextLocality.Answer),
                new AnsweredImageProbe(Image("mloc", c.ImageLocality.Image!), c.ImageLocality.Prompt, c.ImageLocality.Answer)));
        }
        return (result, images);
    }

    /// <summary>Writes a stream of <paramref name="count"/> evaluation-split cases drawn with <paramref name="seed"/>.</summary>
    /// <param name="factTags">False: no <c>entity:</c>/<c>attribute:</c> tags, so no edit supersedes another (the name ends in <c>-independent</c>).</param>
    public static BenchStream Make(SynthWorld world, int count, int seed, string folder, EditSplit split = EditSplit.EditorEval, string? command = null,
        bool factTags = true)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "a stream needs at least one case");
        var (cases, images) = Convert(world.EditCases(split, count, seed), factTags);
        var name = $"synthworld-{split.ToString().ToLowerInvariant()}-{count}-s{seed}" + (factTags ? "" : "-independent");
        var manifest = new StreamManifest(BenchStream.FormatName, BenchStream.FormatVersion, name,
            "synthworld", count, world.ImageSize, seed, command);
        return BenchStream.Write(folder, manifest, cases, images);
    }
}
