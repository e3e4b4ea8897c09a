using LiveEdit.Bench.Streams;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

/// <summary><c>bench make --independent</c>: the same cases and images, without the tags that make one edit supersede another.</summary>
public sealed class making_an_independent_stream : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void it_holds_the_same_cases_and_images_without_entity_and_attribute_tags()
    {
        var world = new SynthWorld(WorldConfig.Default);
        var tagged = SynthWorldStreams.Make(world, 40, seed: 3, _temp["tagged"]);
        var independent = SynthWorldStreams.Make(world, 40, seed: 3, _temp["independent"], factTags: false);

        independent.Manifest.Name.ShouldBe(tagged.Manifest.Name + "-independent", "its edits' rationales must not be taken for the tagged stream's");
        independent.Cases.Select(c => c.Id).ShouldBe(tagged.Cases.Select(c => c.Id));
        for (var i = 0; i < tagged.Cases.Count; i++)
        {
            var (a, b) = (tagged.Cases[i], independent.Cases[i]);
            b.Edit.ShouldBe(a.Edit);
            b.TextGenerality.ShouldBe(a.TextGenerality);
            b.ImageGenerality.ShouldBe(a.ImageGenerality);
            b.TextLocality.ShouldBe(a.TextLocality);
            b.ImageLocality.ShouldBe(a.ImageLocality);
            StreamSamples.TagValue(b, "entity").ShouldBeNull();
            StreamSamples.TagValue(b, "attribute").ShouldBeNull();
            b.Tags.ShouldBe(a.Tags.Where(t => !t.StartsWith("entity:", StringComparison.Ordinal) && !t.StartsWith("attribute:", StringComparison.Ordinal)));
        }
        tagged.Cases.ShouldAllBe(c => StreamSamples.TagValue(c, "entity") != null && StreamSamples.TagValue(c, "attribute") != null);
        foreach (var file in Directory.EnumerateFiles(_temp["tagged"], "*.png", SearchOption.AllDirectories))
            File.ReadAllBytes(Path.Combine(_temp["independent"], Path.GetRelativePath(_temp["tagged"], file))).ShouldBe(File.ReadAllBytes(file));
    }
}
