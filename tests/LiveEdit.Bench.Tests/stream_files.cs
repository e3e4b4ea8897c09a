using LiveEdit.Bench.Streams;
using LiveEdit.Model.Images;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

public sealed class stream_files : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static (StreamManifest, List<BenchCase>, Dictionary<string, RgbImage>) SmallStream(int count)
    {
        var cases = new List<BenchCase>();
        var images = new Dictionary<string, RgbImage>();
        for (var i = 0; i < count; i++)
        {
            string Img(string role, int tone)
            {
                var path = $"images/c{i}-{role}.png";
                images[path] = Images.Gradient(16, 16, tone + i);
                return path;
            }
            cases.Add(new BenchCase($"c{i}", ["test", $"n{i}"],
                new EditProbe(Img("edit", 0), "what is its name?", $"zed{i}"),
                new TextProbe("what is this thing called?"),
                new ImageProbe(Img("mgen", 1), "what is its name?"),
                new AnsweredTextProbe("what is the capital of ora?", "vel"),
                new AnsweredImageProbe(Img("mloc", 2), "what is its name?", "bo")));
        }
        return (new StreamManifest(BenchStream.FormatName, BenchStream.FormatVersion, "small", "test", count, 16, 7, "test"), cases, images);
    }

    [Fact]
    public void round_trip_keeps_every_case()
    {
        var (manifest, cases, images) = SmallStream(3);
        var written = BenchStream.Write(_temp["s"], manifest, cases, images);
        var read = BenchStream.Read(_temp["s"]);
        read.Manifest.ShouldBe(manifest);
        read.Cases.Count.ShouldBe(3);
        for (var i = 0; i < 3; i++)
        {
            read.Cases[i].Edit.ShouldBe(cases[i].Edit);
            read.Cases[i].Tags.ShouldBe(cases[i].Tags);
            read.Cases[i].ImageLocality.ShouldBe(cases[i].ImageLocality);
        }
        RgbImage.Load(read.ImagePath(read.Cases[1].ImageGenerality.Image)).Pixels.ShouldBe(images["images/c1-mgen.png"].Pixels);
        written.Cases.Count.ShouldBe(3);
    }

    [Fact]
    public void the_same_cases_give_the_same_bytes()
    {
        var (manifest, cases, images) = SmallStream(2);
        BenchStream.Write(_temp["a"], manifest, cases, images);
        BenchStream.Write(_temp["b"], manifest, cases, images);
        foreach (var file in Directory.EnumerateFiles(_temp["a"], "*", SearchOption.AllDirectories))
        {
            var twin = Path.Combine(_temp["b"], Path.GetRelativePath(_temp["a"], file));
            File.ReadAllBytes(twin).ShouldBe(File.ReadAllBytes(file), file);
        }
    }

    [Fact]
    public void an_unknown_field_is_refused_with_its_line()
    {
        var (manifest, cases, images) = SmallStream(3);
        BenchStream.Write(_temp["s"], manifest, cases, images);
        var lines = File.ReadAllLines(_temp["s/cases.jsonl"]);
        lines[1] = lines[1].Replace("\"tags\":", "\"colour\":\"red\",\"tags\":");
        File.WriteAllLines(_temp["s/cases.jsonl"], lines);

        var error = Should.Throw<StreamFormatException>(() => BenchStream.Read(_temp["s"]));
        error.Line.ShouldBe(2);
        error.Message.ShouldContain("colour");
    }

    [Fact]
    public void a_malformed_line_is_refused_with_its_line()
    {
        var (manifest, cases, images) = SmallStream(3);
        BenchStream.Write(_temp["s"], manifest, cases, images);
        var lines = File.ReadAllLines(_temp["s/cases.jsonl"]);
        lines[2] = lines[2][..^5];
        File.WriteAllLines(_temp["s/cases.jsonl"], lines);

        Should.Throw<StreamFormatException>(() => BenchStream.Read(_temp["s"])).Line.ShouldBe(3);
    }

    [Fact]
    public void a_missing_field_is_refused_with_its_line()
    {
        var (manifest, cases, images) = SmallStream(2);
        BenchStream.Write(_temp["s"], manifest, cases, images);
        var lines = File.ReadAllLines(_temp["s/cases.jsonl"]);
        lines[0] = lines[0].Replace("\"target\":\"zed0\"", "\"targte\":\"zed0\"");
        File.WriteAllLines(_temp["s/cases.jsonl"], lines);

        var error = Should.Throw<StreamFormatException>(() => BenchStream.Read(_temp["s"]));
        error.Line.ShouldBe(1);
    }

    [Fact]
    public void a_missing_image_is_refused_with_its_line()
    {
        var (manifest, cases, images) = SmallStream(3);
        BenchStream.Write(_temp["s"], manifest, cases, images);
        File.Delete(_temp["s/images/c2-mloc.png"]);

        var error = Should.Throw<StreamFormatException>(() => BenchStream.Read(_temp["s"]));
        error.Line.ShouldBe(3);
        error.Message.ShouldContain("c2-mloc.png");
    }

    [Fact]
    public void an_image_path_outside_the_stream_is_refused()
    {
        var (manifest, cases, images) = SmallStream(1);
        cases[0] = cases[0] with { Edit = cases[0].Edit with { Image = "../elsewhere.png" } };
        Should.Throw<StreamFormatException>(() => BenchStream.Write(_temp["s"], manifest, cases, images)).Message.ShouldContain("inside the stream folder");
        _temp.Entries().ShouldBeEmpty("a failed write leaves nothing behind");
    }

    [Fact]
    public void an_existing_folder_is_never_overwritten()
    {
        var (manifest, cases, images) = SmallStream(1);
        BenchStream.Write(_temp["s"], manifest, cases, images);
        Should.Throw<IOException>(() => BenchStream.Write(_temp["s"], manifest, cases, images));
    }
}
