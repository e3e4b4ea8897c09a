using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests;

/// <summary>
/// <see cref="VlmLoader"/>: the base model's kind, folder, device and dtype come from configuration; a setting that
/// cannot be used stops the load with a message naming it, before any weight is read.
/// </summary>
public sealed class choosing_the_model_by_configuration : IDisposable
{
    private static readonly string Committed = Path.Combine(RepositoryRoot.Path, "models", "tinyvlm");
    private readonly string _temp = Directory.CreateTempSubdirectory("vlm-loader-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void the_committed_tiny_vlm_loads_by_kind_on_the_cpu_in_float32()
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        var model = VlmLoader.Load("TinyVlm", Committed, "cpu", "float32");
        using var _ = (IDisposable)model;

        model.Kind.ShouldBe("TinyVlm");
        model.Device.type.ShouldBe(TorchSharp.DeviceType.CPU);
        model.DType.ShouldBe(ScalarType.Float32);
        model.WeightsSha256.ShouldBe(TinyVlm.Load(Committed).WeightsSha256);
    }

    [Fact]
    public void unset_settings_mean_tiny_vlm_on_the_cpu_in_float32()
    {
        var (kind, device, dtype) = VlmLoader.Check(null, null, null);

        kind.Name.ShouldBe("TinyVlm");
        device.type.ShouldBe(TorchSharp.DeviceType.CPU);
        dtype.ShouldBe(ScalarType.Float32);
        VlmLoader.Check("tinyvlm", " CPU ", "Float32").Kind.Name.ShouldBe("TinyVlm");
    }

    [Fact]
    public void an_unknown_kind_is_named_with_the_kinds_this_build_knows()
    {
        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("Blip2", Committed));

        error.Setting.ShouldBe("Model__Kind");
        error.Message.ShouldContain("Model__Kind='Blip2' is not a model kind this build knows");
        error.Message.ShouldContain("TinyVlm");
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:x")]
    [InlineData("cuda:-1")]
    [InlineData("mps")]
    public void a_device_that_is_not_one_is_named(string device)
    {
        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("TinyVlm", Committed, device));

        error.Setting.ShouldBe("Model__Device");
        error.Message.ShouldContain($"Model__Device='{device}' is not a device; use cpu, cuda or cuda:N");
    }

    [Fact]
    public void cuda_without_a_cuda_build_or_device_says_how_to_get_one()
    {
        if (cuda.is_available()) return; // a CUDA machine can load there; the refusal is for the CPU build
        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("TinyVlm", Committed, "cuda:0"));

        error.Setting.ShouldBe("Model__Device");
        error.Message.ShouldContain("no CUDA device is available");
        error.Message.ShouldContain("-p:TorchDevice=cuda");
    }

    [Theory]
    [InlineData("float64")]
    [InlineData("int8")]
    [InlineData("half")]
    public void a_dtype_that_is_not_one_is_named(string dtype)
    {
        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("TinyVlm", Committed, "cpu", dtype));

        error.Setting.ShouldBe("Model__DType");
        error.Message.ShouldContain($"Model__DType='{dtype}' is not a dtype; use float32, float16 or bfloat16");
    }

    [Fact]
    public void tiny_vlm_in_half_precision_is_refused_naming_the_setting()
    {
        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("TinyVlm", Committed, "cpu", "float16"));

        error.Setting.ShouldBe("Model__DType");
        error.Message.ShouldContain("TinyVlm runs in float32 only");
    }

    [Fact]
    public void a_missing_folder_is_named()
    {
        var missing = Path.Combine(_temp, "nowhere");
        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("TinyVlm", missing));

        error.Setting.ShouldBe("Model__BaseFolder");
        error.Message.ShouldContain($"Model__BaseFolder='{missing}' does not exist");
    }

    [Fact]
    public void a_hugging_face_folder_given_as_tiny_vlm_says_to_set_the_kind()
    {
        File.WriteAllText(Path.Combine(_temp, "config.json"), """{"model_type": "llava", "image_token_index": 32000}""");
        File.WriteAllBytes(Path.Combine(_temp, "model.safetensors"), [8, 0, 0, 0, 0, 0, 0, 0, .. "{}      "u8]);

        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("TinyVlm", _temp));

        error.Setting.ShouldBe("Model__BaseFolder");
        error.Message.ShouldContain("is not a TinyVlm checkpoint (Model__Kind=TinyVlm)");
        error.Message.ShouldContain("it holds a Hugging Face checkpoint (model_type 'llava'); set Model__Kind to its kind");
        VlmLoader.LlavaFolderProblem(_temp).ShouldBeNull();
    }

    [Fact]
    public void an_empty_folder_names_the_files_a_tiny_vlm_checkpoint_has()
    {
        var error = Should.Throw<ModelConfigurationException>(() => VlmLoader.Load("TinyVlm", _temp));

        error.Message.ShouldContain("it has no checkpoint.json, config.json, tokenizer.json, weights.bin");
        Should.Throw<ModelConfigurationException>(() => VlmLoader.DetectKind(_temp)).Message.ShouldContain("is no checkpoint of a known kind");
    }

    [Fact]
    public void the_kind_of_a_folder_is_found_from_its_files()
    {
        VlmLoader.DetectKind(Committed).ShouldBe("TinyVlm");
        VlmLoader.LlavaFolderProblem(Committed).ShouldBe("it holds a TinyVlm checkpoint; set Model__Kind=TinyVlm");
    }

    [Fact]
    public void tiny_vlm_owns_its_preprocessing_and_its_text_limits()
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        IVisionLanguageModel model = VlmLoader.Load("TinyVlm", Committed);
        using var _ = (IDisposable)model;
        using var scope = NewDisposeScope();
        var photo = new RgbImage(64, 48, Enumerable.Range(0, 64 * 48 * 3).Select(i => (byte)(i % 251)).ToArray());

        var input = model.ImageInput(photo);

        input.shape.ShouldBe([3, 32, 32]);
        input.device_type.ShouldBe(TorchSharp.DeviceType.CPU);
        DeviceTensors.HostFloats(input).ShouldBe(DeviceTensors.HostFloats(photo.ToModelInput(32).ToTensor()));
        model.CheckEditText("what is this creature called?", "qwxzy")!.Code.ShouldBe("target_unknown_words");
        model.CheckEditText("what is this creature called?", "qwxzy")!.Field.ShouldBe("target");
        model.CheckQuery(string.Join(' ', Enumerable.Repeat("what", 60)), withImage: true)!.Code.ShouldBe("prompt_too_long");
        model.CheckQuery("what is this creature called?", withImage: true).ShouldBeNull();
    }

    [Fact]
    public void the_editor_sizes_come_from_the_model_shape_and_the_papers_hyper_parameters()
    {
        var llava7b = new VlmShape(HiddenSize: 4096, VisionTokens: 576, EditLayer: 21, Layers: 32, VocabSize: 32064);

        var paper = EditorConfig.For(llava7b, new EditorHyperParameters());

        paper.ShouldBe(new EditorConfig(4096, 576, ModuleDim: 1024, Heads: 4, Rank: 4, KeyRows: 4, LoraScale: 5.0));
        // A small model keeps d_m = d (the committed TinyVLM editor's size).
        EditorConfig.For(new VlmShape(96, 16, 2, 4, 551)).ModuleDim.ShouldBe(96);
        Should.Throw<ArgumentException>(() => EditorConfig.For(llava7b, new EditorHyperParameters(ModuleDim: 1022))).Message.ShouldContain("multiple of the 4 heads");
    }
}
