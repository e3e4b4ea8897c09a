using System.Text.Json;
using LiveEdit.Bench.Import;
using LiveEdit.Bench.Streams;
using LiveEdit.Model.Images;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

public sealed class importing_mmedit_and_vlkeb_files : IDisposable
{
    private readonly TempFolder _temp = new();

    public importing_mmedit_and_vlkeb_files()
    {
        // A hand-made image folder in the COCO layout the data sets use, with images of odd sizes.
        Directory.CreateDirectory(_temp["coco/val2014"]);
        for (var i = 0; i < 6; i++) Images.Gradient(40 + i, 30, i).SavePng(_temp[$"coco/val2014/img{i}.png"]);
        File.WriteAllText(_temp["coco/val2014/notes.txt"], "not an image");
    }

    public void Dispose() => _temp.Dispose();

    private static Dictionary<string, object> Record(int i) => new()
    {
        ["src"] = $"What is on the table {i}?",
        ["pred"] = "cup",
        ["rephrase"] = $"What can be seen on the table {i}?",
        ["alt"] = $"plate{i}",
        ["image"] = $"val2014/img{i % 3}.png",
        ["image_rephrase"] = $"val2014/img{3 + i % 3}.png",
        ["loc"] = "nq question: who wrote hamlet",
        ["loc_ans"] = "shakespeare",
        ["m_loc"] = "val2014/img5.png",
        ["m_loc_q"] = "What colour is the bus?",
        ["m_loc_a"] = "red",
    };

    private string WriteArray(string name, IEnumerable<Dictionary<string, object>> records)
    {
        var path = _temp[name];
        File.WriteAllText(path, JsonSerializer.Serialize(records, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    private string WriteLines(string name, IEnumerable<string> lines)
    {
        var path = _temp[name];
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void an_evqa_array_becomes_a_stream_with_resized_images()
    {
        var input = WriteArray("evqa.json", Enumerable.Range(0, 4).Select(Record));
        var stream = MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"]);

        stream.Cases.Count.ShouldBe(4);
        stream.Manifest.Source.ShouldBe("mmedit-evqa");
        var c = stream.Cases[2];
        c.Edit.Prompt.ShouldBe("What is on the table 2?");
        c.Edit.Target.ShouldBe("plate2");
        c.TextGenerality.Prompt.ShouldBe("What can be seen on the table 2?");
        c.TextLocality.ShouldBe(new AnsweredTextProbe("nq question: who wrote hamlet", "shakespeare"));
        c.ImageLocality.Answer.ShouldBe("red");
        var image = RgbImage.Load(stream.ImagePath(c.Edit.Image));
        (image.Width, image.Height).ShouldBe((32, 32));
        // The same source image is stored once.
        stream.Cases[3].ImageLocality.Image.ShouldBe(stream.Cases[0].ImageLocality.Image);
    }

    [Fact]
    public void a_vlkeb_json_lines_file_imports_too()
    {
        var input = WriteLines("vlkeb.jsonl", Enumerable.Range(0, 3).Select(i => JsonSerializer.Serialize(Record(i))));
        var stream = MmEditImporter.Import(input, _temp["coco"], ExternalLayout.Vlkeb, 24, _temp["out"]);
        stream.Cases.Count.ShouldBe(3);
        stream.Manifest.Source.ShouldBe("vlkeb");
        stream.Manifest.ImageSize.ShouldBe(24);
    }

    [Fact]
    public void importing_twice_gives_the_same_bytes()
    {
        var input = WriteArray("eic.json", Enumerable.Range(0, 3).Select(Record));
        MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EIc, 32, _temp["a"]);
        MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EIc, 32, _temp["b"]);
        foreach (var file in Directory.EnumerateFiles(_temp["a"], "*", SearchOption.AllDirectories))
            File.ReadAllBytes(file).ShouldBe(File.ReadAllBytes(Path.Combine(_temp["b"], Path.GetRelativePath(_temp["a"], file))));
    }

    [Fact]
    public void a_malformed_line_is_named_and_nothing_is_written()
    {
        var lines = Enumerable.Range(0, 4).Select(i => JsonSerializer.Serialize(Record(i))).ToList();
        lines[2] = lines[2][..20];
        var input = WriteLines("bad.jsonl", lines);
        var error = Should.Throw<StreamFormatException>(() => MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"]));
        error.Line.ShouldBe(3);
        NothingImported();
    }

    [Fact]
    public void a_missing_image_is_named_with_its_record_and_line()
    {
        var records = Enumerable.Range(0, 3).Select(Record).ToList();
        records[1]["m_loc"] = "val2014/absent.png";
        var input = WriteArray("evqa.json", records);
        var error = Should.Throw<StreamFormatException>(() => MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"]));
        error.Message.ShouldContain("record 2");
        error.Message.ShouldContain("absent.png");
        error.Line.ShouldBe(File.ReadAllLines(input).Select((l, n) => (l, n)).Where(x => x.l.Trim() == "{").ElementAt(1).n + 1);
        NothingImported();
    }

    [Fact]
    public void an_image_that_is_not_an_image_is_refused()
    {
        var records = Enumerable.Range(0, 2).Select(Record).ToList();
        records[1]["image"] = "val2014/notes.txt";
        var input = WriteArray("evqa.json", records);
        Should.Throw<StreamFormatException>(() => MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"]))
            .Message.ShouldContain("notes.txt");
        NothingImported();
    }

    [Fact]
    public void an_unknown_field_is_refused()
    {
        var records = Enumerable.Range(0, 2).Select(Record).ToList();
        records[1]["mystery"] = "x";
        var input = WriteLines("evqa.jsonl", records.Select(r => JsonSerializer.Serialize(r)));
        var error = Should.Throw<StreamFormatException>(() => MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"]));
        error.Line.ShouldBe(2);
        error.Message.ShouldContain("mystery");
        NothingImported();
    }

    [Fact]
    public void a_missing_field_is_refused()
    {
        var records = Enumerable.Range(0, 2).Select(Record).ToList();
        records[0].Remove("loc_ans");
        var input = WriteLines("evqa.jsonl", records.Select(r => JsonSerializer.Serialize(r)));
        var error = Should.Throw<StreamFormatException>(() => MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"]));
        error.Line.ShouldBe(1);
        error.Message.ShouldContain("loc_ans");
        NothingImported();
    }

    [Theory]
    [InlineData("invalid")]
    [InlineData("string")]
    [InlineData("long-field-name")]
    [InlineData("control-characters")]
    public void a_bad_record_inside_a_large_array_is_named_with_a_short_printable_message(string kind)
    {
        var filler = new string('x', 400);
        var records = Enumerable.Range(0, 3_000).Select(i =>
        {
            var record = Record(i);
            record["pred"] = filler;
            return JsonSerializer.Serialize(record);
        }).ToList();
        records[1] = kind switch
        {
            "invalid" => records[1][..30] + " } {",
            "string" => JsonSerializer.Serialize(new string('y', 100_000)),
            "long-field-name" => records[1][..^1] + $",\"{new string('z', 100_000)}\":\"x\"}}",
            _ => records[1].Replace("\"plate1\"", "\"pl\\u0000ate\\u001b[31m\""),
        };
        var input = _temp["big.json"];
        File.WriteAllText(input, "[\n" + string.Join(",\n", records) + "\n]");
        new FileInfo(input).Length.ShouldBeGreaterThan(1_000_000);

        var error = Should.Throw<StreamFormatException>(() => MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"]));

        error.Message.ShouldContain("record 2");
        error.Message.Length.ShouldBeLessThan(400, error.Message[..Math.Min(400, error.Message.Length)]);
        error.Message.ShouldNotContain(filler);
        error.Message.Any(char.IsControl).ShouldBeFalse("only printable characters");
        NothingImported();
    }

    [Fact]
    public void a_42_word_target_is_refused_naming_the_record_and_the_limit()
    {
        var records = Enumerable.Range(0, 3).Select(Record).ToList();
        foreach (var record in records) record["alt"] = "red"; // a word the model knows
        records[1]["alt"] = string.Join(' ', Enumerable.Repeat("the red golem of the north", 7));
        var input = WriteArray("evqa.json", records);
        var model = LiveEdit.Model.Vlm.VlmLoader.Load("TinyVlm", Path.Combine(LiveEdit.Testing.RepositoryRoot.Path, "models", "tinyvlm"));

        var error = Should.Throw<StreamFormatException>(() => MmEditImporter.Import(input, _temp["coco"], ExternalLayout.EVqa, 32, _temp["out"], checkEditText: model.CheckEditText));

        error.Message.ShouldContain("record 2");
        error.Message.ShouldContain("'target' is 42 tokens; the model answers with at most 8");
        NothingImported();
    }

    private void NothingImported() =>
        _temp.Entries().Where(e => e.StartsWith("out") || e.StartsWith(".out")).ShouldBeEmpty("nothing is half-imported");
}
