using LiveEdit.Model.HuggingFace;
using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

[Collection(EditorCollection.Name)]
public sealed class loading_llava_folders : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("liveedit-load-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(TinyLlavaOptions options, Action<List<TinyTensor>>? edit = null) =>
        TinyLlavaCheckpoint.Write(Path.Combine(_dir, Guid.NewGuid().ToString("N")), options, edit);

    [Theory]
    [InlineData(TinyLlavaFamily.Llava15)]
    [InlineData(TinyLlavaFamily.InterleaveQwen)]
    public void every_variant_of_one_checkpoint_loads_to_identical_tensors_and_the_same_weights_hash(TinyLlavaFamily family)
    {
        var hashes = new Dictionary<string, string>();
        var written = TinyLlavaCheckpoint.Tensors(new TinyLlavaOptions(family, Seed: 4)).ToDictionary(t => t.Name);
        foreach (var dtype in Enum.GetValues<TinyDType>())
        foreach (var sharded in new[] { false, true })
        foreach (var layout in Enum.GetValues<TinyKeyLayout>())
        {
            using var model = LlavaLoader.Load(Write(new TinyLlavaOptions(family, dtype, sharded, layout, Seed: 4)), null, ScalarType.Float32,
                out var report);
            report.Files.Count.ShouldBe(sharded ? 2 : 1);
            report.Bind.Ignored.ShouldBeEmpty("the model has every tensor the public checkpoints carry");
            foreach (var (name, tensor) in model.NamedWeights())
                tensor.data<float>().ToArray().ShouldBe(written[name].Values, $"{name} loaded from {dtype}, sharded {sharded}, {layout}");
            hashes[$"{dtype} sharded={sharded} {layout}"] = model.WeightsSha256;
        }
        hashes.Values.Distinct().Count().ShouldBe(1, string.Join("\n", hashes.Select(h => $"{h.Key}: {h.Value}")));
    }

    [Fact]
    public void the_weights_hash_of_float32_files_equals_that_of_the_same_weights_sharded_and_differs_for_other_weights()
    {
        using var single = LlavaLoader.Load(Write(new TinyLlavaOptions(Seed: 9)));
        using var sharded = LlavaLoader.Load(Write(new TinyLlavaOptions(Sharded: true, Seed: 9)));
        using var other = LlavaLoader.Load(Write(new TinyLlavaOptions(Seed: 10)));
        sharded.WeightsSha256.ShouldBe(single.WeightsSha256);
        other.WeightsSha256.ShouldNotBe(single.WeightsSha256);
        single.WeightsSha256.ShouldNotBe(LlavaModel.Create(single.Config, single.Tokenizer, single.Processor, single.Format).WeightsSha256,
            "the hash is over the loaded tensors, not the random ones they replaced");
    }

    [Fact]
    public void a_model_loaded_in_float16_holds_the_same_numbers_and_hashes_them_as_float16()
    {
        var folder = Write(new TinyLlavaOptions(DType: TinyDType.BF16));
        using var full = LlavaLoader.Load(folder);
        using var half = LlavaLoader.Load(folder, dtype: ScalarType.Float16);
        half.DType.ShouldBe(ScalarType.Float16);
        foreach (var ((name, a), (_, b)) in full.NamedWeights().Zip(half.NamedWeights()))
            b.to_type(ScalarType.Float32).data<float>().ToArray().ShouldBe(a.data<float>().ToArray(), name);
        half.WeightsSha256.ShouldNotBe(full.WeightsSha256, "the dtype is part of what is hashed");
    }

    [Theory]
    [InlineData(TinyLlavaFamily.Llava15)]
    [InlineData(TinyLlavaFamily.InterleaveQwen)]
    public void the_models_weights_are_the_canonical_list_with_the_shapes_transformers_gives_them(TinyLlavaFamily family)
    {
        using var model = LlavaLoader.Load(Write(new TinyLlavaOptions(family)));
        var expected = LlavaCheckpointLayout.Expected(model.Config).ToDictionary(e => e.Name, e => e.Shape);
        var actual = model.NamedWeights();
        actual.Select(w => w.Name).ShouldBe(expected.Keys, ignoreOrder: true);
        foreach (var (name, tensor) in actual) tensor.shape.ShouldBe(expected[name], name);
    }

    [Fact]
    public void a_checkpoint_that_does_not_fit_fails_the_load_with_every_fault_listed()
    {
        var folder = Write(new TinyLlavaOptions(Layout: TinyKeyLayout.Newer, Sharded: true), tensors =>
        {
            tensors.RemoveAll(t => t.Name == "model.language_model.layers.1.self_attn.k_proj.weight");
            var i = tensors.FindIndex(t => t.Name == "lm_head.weight");
            tensors[i] = tensors[i] with { Name = "lm_head.weights" };
            var j = tensors.FindIndex(t => t.Name == "model.multi_modal_projector.linear_1.weight");
            tensors[j] = tensors[j] with { Shape = [32, 64] };
        });
        var e = Should.Throw<WeightMismatchException>(() => LlavaLoader.Load(folder));
        e.Missing.ShouldBe(["language_model.model.layers.1.self_attn.k_proj.weight", "language_model.lm_head.weight"], ignoreOrder: true);
        e.Unexpected.ShouldBe(["lm_head.weights (as language_model.lm_head.weights)"]);
        e.Misshaped.ShouldBe(["multi_modal_projector.linear_1.weight: file [32, 64], model [64, 32]"]);
    }

    [Fact]
    public void a_config_with_an_unsupported_value_fails_the_load_naming_the_field()
    {
        var folder = Write(new TinyLlavaOptions());
        var path = Path.Combine(folder, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"clip_vision_model\"", "\"dinov2\""));
        Should.Throw<CheckpointFormatException>(() => LlavaLoader.Load(folder)).Message
            .ShouldStartWith("config.json: vision_config.model_type: 'dinov2' is not supported");
    }

    [Fact]
    public void a_truncated_shard_fails_the_load_naming_the_shard()
    {
        var folder = Write(new TinyLlavaOptions(Sharded: true));
        var shard = Path.Combine(folder, "model-00002-of-00002.safetensors");
        var bytes = File.ReadAllBytes(shard);
        File.WriteAllBytes(shard, bytes[..^100]);
        Should.Throw<CheckpointFormatException>(() => LlavaLoader.Load(folder)).Message
            .ShouldStartWith(shard + ": tensor 'language_model.lm_head.weight' ends at byte");
    }

    [Fact]
    public void a_model_exported_with_the_writer_loads_back_to_the_same_weights_hash()
    {
        var folder = Write(new TinyLlavaOptions(TinyLlavaFamily.InterleaveQwen, TinyDType.BF16, Sharded: true, Layout: TinyKeyLayout.Newer));
        using var model = LlavaLoader.Load(folder);
        var export = Directory.CreateDirectory(Path.Combine(_dir, "export")).FullName;
        foreach (var f in Directory.EnumerateFiles(folder).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal) && !f.EndsWith(".index.json", StringComparison.Ordinal)))
            File.Copy(f, Path.Combine(export, Path.GetFileName(f)));
        SafetensorsWriter.Write(Path.Combine(export, HuggingFaceCheckpoint.SingleFile), model.NamedWeights(), new Dictionary<string, string> { ["format"] = "pt" });
        using var again = LlavaLoader.Load(export);
        again.WeightsSha256.ShouldBe(model.WeightsSha256);
    }

    [Theory]
    [InlineData(TinyLlavaFamily.Llava15)]
    [InlineData(TinyLlavaFamily.InterleaveQwen)]
    public void a_loaded_model_answers_with_its_own_tokenizer_template_and_processor(TinyLlavaFamily family)
    {
        using var model = LlavaLoader.Load(Write(new TinyLlavaOptions(family)));
        using var scope = NewDisposeScope();
        var image = model.ImageInput(new LiveEdit.Model.Images.RgbImage(40, 30, Enumerable.Range(0, 40 * 30 * 3).Select(i => (byte)(i * 7)).ToArray()));
        image.shape.ShouldBe([3L, 28, 28]);
        var inputs = model.Prepare([new VlmExample(image, "what is this?", null), new VlmExample(null, "what is the capital?", null)]);
        inputs.VisionCount.ShouldBe([model.Config.ImageTokens, 0]);
        var answers = model.GreedyAnswers([new VlmExample(image, "what is this?", null)], maxNewTokens: 3);
        answers.Count.ShouldBe(1);
    }
}
