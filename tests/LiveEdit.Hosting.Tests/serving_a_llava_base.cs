using LiveEdit.Hosting.Serving;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// A host or worker configured with <c>Model__Kind=Llava</c> and a tiny LLaVA checkpoint loads it through the same
/// <see cref="ModelRuntime"/> as TinyVLM, makes an expert from an upload of any size, and answers with and without it:
/// retracting the expert brings the base answer back bit for bit. The editor has random weights: this is the plumbing,
/// not the editor's quality.
/// </summary>
[Collection(HostingCollection.Name)]
public sealed class serving_a_llava_base : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("llava-runtime-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private (string Base, string Editor) TinyLlavaWithEditor()
    {
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_temp, "llava"), new TinyLlavaOptions());
        var editorFolder = Path.Combine(_temp, "editor");
        var model = VlmLoader.Load("Llava", folder);
        using (model as IDisposable)
        {
            manual_seed(7);
            using var editor = new EditorModules(EditorConfig.For(model.Shape, new EditorHyperParameters()));
            editor.Save(editorFolder, new EditorProvenance(model.WeightsSha256, Seed: 7, Steps: 0, Threads: 1, Command: "test", Seconds: 0));
        }
        return (folder, editorFolder);
    }

    [Fact]
    public async Task a_runtime_configured_with_a_tiny_llava_loads_generates_and_answers()
    {
        var (baseFolder, editorFolder) = TinyLlavaWithEditor();
        VlmLoader.DetectKind(baseFolder).ShouldBe("Llava");
        using var runtime = ModelRuntime.Load(new ModelSettings { Kind = "Llava", BaseFolder = baseFolder, EditorFolder = editorFolder, Device = "cpu", DType = "float32", Threads = 1 });
        runtime.Model.Kind.ShouldBe("Llava");
        runtime.Editor.Config.HiddenSize.ShouldBe(runtime.Model.Shape.HiddenSize);
        var photo = new RgbImage(40, 30, Enumerable.Range(0, 40 * 30 * 3).Select(i => (byte)(i * 7 % 256)).ToArray());
        var upload = runtime.ReadImage(photo.ToPng());
        const string prompt = "what is this?", target = "cat";
        runtime.CheckEditText(prompt, target).ShouldBeNull();

        var expert = await runtime.GenerateAsync(upload, prompt, target);

        expert.BaseSha256.ShouldBe(runtime.Model.WeightsSha256);
        expert.GeneratorSha256.ShouldBe(runtime.Editor.GeneratorSha256);
        var again = await runtime.GenerateAsync(upload, prompt, target);
        again.Sha256.ShouldBe(expert.Sha256, "an expert is a pure function of the weights and the edit on the CPU");

        float[] Logits(EditedModel model)
        {
            using var scope = NewDisposeScope();
            var inputs = runtime.Model.Prepare([new VlmExample(runtime.ImageInput(upload), prompt, target)]);
            return DeviceTensors.HostFloats(model.Logits(inputs).Logits);
        }
        string Answer(EditedModel model)
        {
            using var scope = NewDisposeScope();
            return model.Answer([new VlmExample(runtime.ImageInput(upload), prompt)], maxNewTokens: 4)[0].Text;
        }
        await runtime.RunAsync(() =>
        {
            using var edited = new EditedModel(runtime.Model, runtime.Editor);
            var (baseLogits, baseAnswer) = (Logits(edited), Answer(edited));
            edited.Add("edit-1", expert, order: 1);
            Logits(edited).Length.ShouldBe(baseLogits.Length);
            Answer(edited).ShouldNotBeNull();
            edited.Remove("edit-1").ShouldBeTrue();

            Logits(edited).ShouldBe(baseLogits, "retracting the expert gives the base logits bit for bit");
            Answer(edited).ShouldBe(baseAnswer);
            return 0;
        });
    }

    [Fact]
    public void a_tiny_vlm_folder_configured_as_llava_is_refused_naming_the_setting()
    {
        var error = Should.Throw<ModelConfigurationException>(() => ModelRuntime.Load(new ModelSettings
        {
            Kind = "Llava",
            BaseFolder = Path.Combine(RepositoryRoot.Path, "models", "tinyvlm"),
            EditorFolder = Path.Combine(RepositoryRoot.Path, "models", "liveedit-editor"),
        }));

        error.Setting.ShouldBe("Model__BaseFolder");
        error.Message.ShouldContain("it holds a TinyVlm checkpoint; set Model__Kind=TinyVlm");
    }
}
