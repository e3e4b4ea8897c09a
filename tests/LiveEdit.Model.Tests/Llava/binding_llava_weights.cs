using LiveEdit.Model.HuggingFace;
using LiveEdit.Model.Llava;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>The binder against the canonical weight list of a config, before any model is involved.</summary>
public sealed class binding_llava_weights : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("liveedit-bind-").FullName;
    private readonly TorchSharp.DisposeScope _scope = NewDisposeScope();

    public void Dispose()
    {
        _scope.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<TinyLlavaFamily, TinyDType, bool, TinyKeyLayout> Variants()
    {
        var data = new TheoryData<TinyLlavaFamily, TinyDType, bool, TinyKeyLayout>();
        foreach (var family in Enum.GetValues<TinyLlavaFamily>())
        foreach (var dtype in Enum.GetValues<TinyDType>())
        foreach (var sharded in new[] { false, true })
        foreach (var layout in Enum.GetValues<TinyKeyLayout>())
            data.Add(family, dtype, sharded, layout);
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void every_variant_binds_to_the_numbers_that_were_written(TinyLlavaFamily family, TinyDType dtype, bool sharded, TinyKeyLayout layout)
    {
        var options = new TinyLlavaOptions(family, dtype, sharded, layout, Seed: 3);
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), options);
        var config = LlavaConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var targets = Targets(config);

        using var checkpoint = HuggingFaceCheckpoint.Open(folder);
        checkpoint.Files.Count.ShouldBe(sharded ? 2 : 1);
        var report = WeightBinder.Bind(targets, checkpoint, new LlavaCheckpointLayout(config));

        report.Bound.ShouldBe(targets.Count);
        var written = TinyLlavaCheckpoint.Tensors(options with { Layout = TinyKeyLayout.Original }).ToDictionary(t => t.Name);
        foreach (var (name, tensor) in targets)
            tensor.data<float>().ToArray().ShouldBe(written[name].Values, $"{name} after binding");
        // Ignored by design: the post-layernorm, and CLIP's last layer (16 tensors), which runs after hidden state −2.
        var ignored = report.Ignored.Select(i => layout == TinyKeyLayout.Newer ? i.FileKey["model.".Length..] : i.FileKey).ToList();
        ignored.Count.ShouldBe(family == TinyLlavaFamily.Llava15 ? 2 + 16 : 2);
        ignored.ShouldAllBe(k => k.StartsWith("vision_tower.vision_model.post_layernorm.") || k.StartsWith("vision_tower.vision_model.encoder.layers.1."));
    }

    [Fact]
    public void a_model_with_every_tower_tensor_binds_them_all_and_ignores_nothing()
    {
        var options = new TinyLlavaOptions();
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), options);
        var config = LlavaConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var targets = Targets(config, full: true);
        using var checkpoint = HuggingFaceCheckpoint.Open(folder);
        var report = WeightBinder.Bind(targets, checkpoint, new LlavaCheckpointLayout(config));
        report.Ignored.ShouldBeEmpty();
        report.Bound.ShouldBe(TinyLlavaCheckpoint.Tensors(options).Count);
    }

    [Fact]
    public void a_renamed_a_missing_an_extra_and_a_misshaped_tensor_are_listed_together_and_nothing_is_copied()
    {
        var options = new TinyLlavaOptions(Sharded: true);
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), options, tensors =>
        {
            Rename(tensors, "language_model.model.layers.0.mlp.up_proj.weight", "language_model.model.layers.0.mlp.upproj.weight");
            tensors.RemoveAll(t => t.Name == "multi_modal_projector.linear_2.bias");
            tensors.Add(new TinyTensor("language_model.model.layers.7.mlp.gate_proj.weight", [2, 2], [1, 2, 3, 4]));
            var i = tensors.FindIndex(t => t.Name == "language_model.model.norm.weight");
            tensors[i] = tensors[i] with { Shape = [32], Values = tensors[i].Values[..32] };
        });
        var config = LlavaConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var targets = Targets(config);
        using var checkpoint = HuggingFaceCheckpoint.Open(folder);

        var e = Should.Throw<WeightMismatchException>(() => WeightBinder.Bind(targets, checkpoint, new LlavaCheckpointLayout(config)));

        e.Missing.ShouldBe(["multi_modal_projector.linear_2.bias", "language_model.model.layers.0.mlp.up_proj.weight"], ignoreOrder: true);
        e.Unexpected.ShouldBe(["language_model.model.layers.0.mlp.upproj.weight", "language_model.model.layers.7.mlp.gate_proj.weight"], ignoreOrder: true);
        e.Misshaped.ShouldBe(["language_model.model.norm.weight: file [32], model [64]"]);
        e.Message.ShouldContain("missing (2)");
        e.Message.ShouldContain("unexpected (2)");
        e.Message.ShouldContain("mis-shaped (1)");
        foreach (var (name, tensor) in targets)
            tensor.count_nonzero().item<long>().ShouldBe(0, $"{name} was written before the check finished");
    }

    [Fact]
    public void an_unexpected_tensor_in_the_newer_layout_is_named_as_the_file_spells_it()
    {
        var options = new TinyLlavaOptions(Layout: TinyKeyLayout.Newer);
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), options,
            tensors => tensors.Add(new TinyTensor("model.language_model.extra.weight", [1], [1])));
        var config = LlavaConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        using var checkpoint = HuggingFaceCheckpoint.Open(folder);
        var e = Should.Throw<WeightMismatchException>(() => WeightBinder.Bind(Targets(config), checkpoint, new LlavaCheckpointLayout(config)));
        e.Unexpected.ShouldBe(["model.language_model.extra.weight (as language_model.model.extra.weight)"]);
    }

    [Fact]
    public void both_layouts_mixed_in_one_checkpoint_are_refused()
    {
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), new TinyLlavaOptions(), tensors =>
        {
            var norm = tensors.Single(t => t.Name == "language_model.model.norm.weight");
            tensors.Add(norm with { Name = "model.language_model.norm.weight" });
        });
        var config = LlavaConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        using var checkpoint = HuggingFaceCheckpoint.Open(folder);
        var e = Should.Throw<WeightMismatchException>(() => WeightBinder.Bind(Targets(config), checkpoint, new LlavaCheckpointLayout(config)));
        e.Other.ShouldHaveSingleItem().ShouldContain("both name 'language_model.model.norm.weight'");
    }

    [Fact]
    public void a_shard_index_that_disagrees_with_its_shards_is_refused()
    {
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), new TinyLlavaOptions(Sharded: true));
        var index = Path.Combine(folder, HuggingFaceCheckpoint.IndexFile);
        var text = File.ReadAllText(index);
        File.WriteAllText(index, text.Replace("\"language_model.model.norm.weight\": \"model-00002-of-00002.safetensors\"",
            "\"language_model.model.norm.weight\": \"model-00001-of-00002.safetensors\""));
        var e = Should.Throw<CheckpointFormatException>(() => HuggingFaceCheckpoint.Open(folder));
        e.Message.ShouldContain("'language_model.model.norm.weight' is listed in model-00001-of-00002.safetensors, which does not hold it");
        e.Message.ShouldContain("model-00002-of-00002.safetensors holds 'language_model.model.norm.weight', which the index places in model-00001-of-00002.safetensors");
    }

    [Fact]
    public void a_shard_outside_the_folder_is_refused()
    {
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), new TinyLlavaOptions(Sharded: true));
        var index = Path.Combine(folder, HuggingFaceCheckpoint.IndexFile);
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"model-00001-of-00002.safetensors\"", "\"../other/model.safetensors\""));
        Should.Throw<CheckpointFormatException>(() => HuggingFaceCheckpoint.Open(folder)).Message
            .ShouldContain("names '../other/model.safetensors', not a .safetensors file in the folder");
    }

    [Fact]
    public void a_shard_the_index_names_but_the_folder_lacks_is_refused()
    {
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), new TinyLlavaOptions(Sharded: true));
        File.Delete(Path.Combine(folder, "model-00002-of-00002.safetensors"));
        Should.Throw<CheckpointFormatException>(() => HuggingFaceCheckpoint.Open(folder)).Message
            .ShouldContain("shard 'model-00002-of-00002.safetensors' is not in the folder");
    }

    [Theory]
    [InlineData("{}", "weight_map is missing or not an object")]
    [InlineData("""{"weight_map":{}}""", "weight_map is empty")]
    [InlineData("""{"weight_map":{"a":3}}""", "weight_map.a is not a file name")]
    [InlineData("""{"weight_map":{"a":"/etc/passwd"}}""", "names '/etc/passwd', not a .safetensors file in the folder")]
    [InlineData("""{"weight_map":{"a":"x.safetensors","a":"y.safetensors"}}""", "weight_map names 'a' twice")]
    [InlineData("""{"weight_map":""", "not valid JSON")]
    public void a_malformed_shard_index_is_refused(string index, string message)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_dir, "bad-index")).FullName;
        File.WriteAllText(Path.Combine(folder, HuggingFaceCheckpoint.IndexFile), index);
        Should.Throw<CheckpointFormatException>(() => HuggingFaceCheckpoint.Open(folder)).Message.ShouldContain(message);
    }

    [Fact]
    public void a_folder_with_only_pickled_weights_is_refused_with_what_to_do()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_dir, "pickled")).FullName;
        File.WriteAllBytes(Path.Combine(folder, "pytorch_model.bin"), [1, 2, 3]);
        Should.Throw<CheckpointFormatException>(() => HuggingFaceCheckpoint.Open(folder)).Message
            .ShouldContain("pytorch_model.bin are pickled PyTorch files, which are not read");
    }

    [Fact]
    public void a_tensor_stored_as_integers_is_refused()
    {
        var options = new TinyLlavaOptions();
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), options);
        var config = LlavaConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var path = Path.Combine(folder, "model.safetensors");
        var tensors = TinyLlavaCheckpoint.Tensors(options);
        using (var s = NewDisposeScope())
        {
            SafetensorsWriter.Write(path, tensors.Select(t => (t.Name, t.Name.EndsWith("norm.weight", StringComparison.Ordinal) && t.Name.StartsWith("language_model.model.norm", StringComparison.Ordinal)
                ? tensor(t.Values).reshape(t.Shape).to_type(ScalarType.Int32)
                : tensor(t.Values).reshape(t.Shape))));
        }
        using var checkpoint = HuggingFaceCheckpoint.Open(folder);
        var e = Should.Throw<WeightMismatchException>(() => WeightBinder.Bind(Targets(config), checkpoint, new LlavaCheckpointLayout(config)));
        e.Other.ShouldBe(["language_model.model.norm.weight: stored as I32, not a floating-point type"]);
    }

    [Fact]
    public void binding_converts_to_the_targets_dtype()
    {
        var options = new TinyLlavaOptions(DType: TinyDType.BF16);
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), options);
        var config = LlavaConfig.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var targets = Targets(config, dtype: ScalarType.Float16);
        using var checkpoint = HuggingFaceCheckpoint.Open(folder);
        WeightBinder.Bind(targets, checkpoint, new LlavaCheckpointLayout(config));
        var written = TinyLlavaCheckpoint.Tensors(options).ToDictionary(t => t.Name);
        foreach (var (name, tensor) in targets)
        {
            tensor.dtype.ShouldBe(ScalarType.Float16);
            tensor.to_type(ScalarType.Float32).data<float>().ToArray().ShouldBe(written[name].Values, name);
        }
    }

    private static void Rename(List<TinyTensor> tensors, string from, string to)
    {
        var i = tensors.FindIndex(t => t.Name == from);
        tensors[i] = tensors[i] with { Name = to };
    }

    /// <summary>
    /// Zero tensors under the canonical names; unless <paramref name="full"/>, those of a lean model that leaves out what
    /// the features never pass through (vision layers past the feature layer, the post-layernorm).
    /// </summary>
    internal static List<(string Name, Tensor Tensor)> Targets(LlavaConfig config, bool full = false, ScalarType dtype = ScalarType.Float32)
    {
        var used = LlavaCheckpointLayout.UsedVisionLayers(config);
        return LlavaCheckpointLayout.Expected(config)
            .Where(e => full || !(IsVisionLayerAtOrPast(e.Name, used) || e.Name.Contains(".post_layernorm.", StringComparison.Ordinal)))
            .Select(e => (e.Name, zeros(e.Shape, dtype)))
            .ToList();
    }

    private static bool IsVisionLayerAtOrPast(string name, int used)
    {
        const string prefix = "vision_tower.vision_model.encoder.layers.";
        return name.StartsWith(prefix, StringComparison.Ordinal) && int.Parse(name[prefix.Length..].Split('.')[0]) >= used;
    }
}
