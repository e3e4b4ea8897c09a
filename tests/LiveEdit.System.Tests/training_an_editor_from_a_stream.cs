using System.Text.Json;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// <c>liveedit train editor --stream</c>: an editor trained from an imported data set (what <c>bench import</c> writes
/// from MMEdit or VLKEB files) rather than SynthWorld's split, for a base of the kind the folder holds, sized
/// from the model's shape.
/// </summary>
public sealed class training_an_editor_from_a_stream : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("liveedit-train-stream-");

    public void Dispose() => _folder.Delete(recursive: true);

    private string In(string name) => Path.Combine(_folder.FullName, name);

    private static Task<CliResult> Run(params string[] args) =>
        CliProcess.RunAsync(args, new Dictionary<string, string?> { ["Model__Kind"] = null, ["Model__Device"] = null, ["Model__DType"] = null },
            workingDirectory: RepositoryRoot.Path, patience: TimeSpan.FromMinutes(4));

    [Fact]
    public async Task an_editor_is_trained_from_an_imported_mmedit_file_for_the_base_the_folder_holds()
    {
        // An E-VQA file over six SynthWorld cases' images, imported as a user's data set would be (no entity tags).
        var made = await Run("bench", "make", "--cases", "6", "--seed", "5", "--out", In("made"));
        made.ExitCode.ShouldBe(0, made.ToString());
        var records = File.ReadAllLines(Path.Combine(In("made"), "cases.jsonl")).Select(line => JsonDocument.Parse(line).RootElement).Select(c => new Dictionary<string, string>
        {
            ["src"] = c.GetProperty("edit").GetProperty("prompt").GetString()!, ["alt"] = c.GetProperty("edit").GetProperty("target").GetString()!,
            ["image"] = c.GetProperty("edit").GetProperty("image").GetString()!, ["rephrase"] = c.GetProperty("textGenerality").GetProperty("prompt").GetString()!,
            ["image_rephrase"] = c.GetProperty("imageGenerality").GetProperty("image").GetString()!,
            ["loc"] = c.GetProperty("textLocality").GetProperty("prompt").GetString()!, ["loc_ans"] = c.GetProperty("textLocality").GetProperty("answer").GetString()!,
            ["m_loc"] = c.GetProperty("imageLocality").GetProperty("image").GetString()!, ["m_loc_q"] = c.GetProperty("imageLocality").GetProperty("prompt").GetString()!,
            ["m_loc_a"] = c.GetProperty("imageLocality").GetProperty("answer").GetString()!,
        }).ToList();
        await File.WriteAllTextAsync(In("evqa.json"), JsonSerializer.Serialize(records));
        var imported = await Run("bench", "import", "--layout", "EVqa", "--input", In("evqa.json"), "--images", In("made"), "--out", In("stream"));
        imported.ExitCode.ShouldBe(0, imported.ToString());

        var trained = await Run("train", "editor", "--stream", In("stream"), "--steps", "2", "--batch", "2", "--cases", "6", "--threads", "1",
            "--seed", "3", "--state", In("state"), "--out", In("editor"));

        trained.ExitCode.ShouldBe(0, trained.ToString());
        trained.Out.ShouldContain("base TinyVlm");
        trained.Out.ShouldContain("6 training cases");
        using var editor = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(In("editor"), "editor.json")));
        var baseModel = VlmLoader.Load("TinyVlm", Path.Combine(RepositoryRoot.Path, "models", "tinyvlm"));
        using (baseModel as IDisposable)
        {
            editor.RootElement.GetProperty("provenance").GetProperty("baseWeightsSha256").GetString().ShouldBe(baseModel.WeightsSha256);
            var config = editor.RootElement.GetProperty("config");
            config.GetProperty("hiddenSize").GetInt32().ShouldBe(baseModel.Shape.HiddenSize);
            config.GetProperty("visionTokens").GetInt32().ShouldBe(baseModel.Shape.VisionTokens);
            config.GetProperty("moduleDim").GetInt32().ShouldBe(Math.Min(baseModel.Shape.HiddenSize, 1024));
        }
    }

    [Fact]
    public async Task an_unknown_base_kind_is_named_and_nothing_is_written()
    {
        var result = await Run("train", "editor", "--base-kind", "Blip2", "--steps", "1", "--out", In("editor"), "--state", In("state"));

        result.ExitCode.ShouldBe(2, result.ToString());
        result.Error.ShouldContain("Model__Kind='Blip2' is not a model kind this build knows; known: TinyVlm, Llava");
        Directory.Exists(In("editor")).ShouldBeFalse();
    }
}
