using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Serving;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using LiveEdit.Testing;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.System.Tests;

/// <summary>
/// An inference host with its workers configured with <c>Model__Kind=Llava</c> and a tiny LLaVA checkpoint: an edit
/// proposed over HTTP becomes an expert, the answer becomes the edit's target with its provenance, and its retraction
/// gives back the answer and the logits of before bit for bit. The editor is a micro editor trained here, before the
/// host starts, with the project's editor trainer on eight cases of which the edit is one (about 20 s on one core).
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class editing_a_llava_base_over_http(PostgresFixture postgres) : HostPerClass(postgres), IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llava-host-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly RgbImage Photo = new(40, 30, Enumerable.Range(0, 40 * 30 * 3).Select(i => (byte)(i * 7 % 256)).ToArray());
    private const string Prompt = "what is this?", Target = "cat";

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        var baseFolder = TinyLlavaCheckpoint.Write(Path.Combine(_folder, "llava"), new TinyLlavaOptions(), SharpenHead);
        var editorFolder = Path.Combine(_folder, "editor");
        var model = VlmLoader.Load("Llava", baseFolder);
        using (model as IDisposable)
        {
            manual_seed(11);
            using var editor = new EditorModules(EditorConfig.For(model.Shape, heads: 2) with { Rank = 8 });
            var trainer = new EditorTrainer(model, editor, Cases(model), new EditorTrainingOptions(Steps: 200, BatchSize: 8, LearningRate: 5e-3, Seed: 12, CheckpointEvery: 0, HardDecisionLoss: true));
            // One thread, so that the editor is the same bytes on every machine; the host then runs with its own setting.
            var threads = get_num_threads();
            set_num_threads(1);
            try
            {
                trainer.Train();
            }
            finally
            {
                set_num_threads(threads);
            }
            editor.Save(editorFolder, new EditorProvenance(model.WeightsSha256, Seed: 11, Steps: 200, Threads: 1, Command: "test", Seconds: 0));
        }
        var settings = Settings.InMemory(postgres, schema);
        settings["Model:Kind"] = "Llava";
        settings["Model:BaseFolder"] = baseFolder;
        settings["Model:EditorFolder"] = editorFolder;
        return settings;
    }

    /// <summary>
    /// ×4 on the LM head (exact on the bfloat16 grid): a random head of std 0.1 caps every logit near 6, too flat for an
    /// edit to make one token win; ×4 gives the spread of a trained head.
    /// </summary>
    private static void SharpenHead(List<TinyTensor> tensors)
    {
        var head = tensors.Single(t => t.Name == "language_model.lm_head.weight");
        for (var i = 0; i < head.Values.Length; i++) head.Values[i] *= 4;
    }

    /// <summary>A random 28×28 photo of its own per entity, with noise of its own per rendering.</summary>
    private static RgbImage Picture(int entity, int variant)
    {
        var look = new Random(1000 + entity);
        var noise = new Random(entity * 7919 + variant);
        return new RgbImage(28, 28, Enumerable.Range(0, 28 * 28 * 3).Select(_ => (byte)Math.Clamp(look.Next(256) + noise.Next(-24, 25), 0, 255)).ToArray());
    }

    /// <summary>The editor's training cases: the edit this test proposes, and seven of random photos.</summary>
    private static IReadOnlyList<EditSample> Cases(IVisionLanguageModel model)
    {
        string[] targets = ["the", "this", "is", "a", "What"];
        Func<Tensor> Input(RgbImage image) => () => model.ImageInput(image);
        var cases = new List<EditSample>();
        for (var i = 0; i < 8; i++)
        {
            var (image, prompt, target) = i == 0 ? (Photo, Prompt, Target) : (Picture(i, 0), i % 2 == 0 ? Prompt : "who owns this?", targets[i % targets.Length]);
            cases.Add(new EditSample(i, "fact", new EditQuery(Input(image), prompt, target, i),
                new EditQuery(Input(image), prompt.Replace("this", "it", StringComparison.Ordinal), target, i),
                new EditQuery(Input(i == 0 ? Photo : Picture(i, 1)), prompt, target, i),
                new EditQuery(Input(Picture(100 + i, 2)), prompt, "the cat", 100 + i),
                new EditQuery(null, $"what is land {i}?", "a", null)));
        }
        return cases;
    }

    [Fact]
    public async Task an_edit_is_answered_with_its_provenance_and_its_retraction_restores_the_logits_bit_for_bit()
    {
        Host.Runtime.Model.Kind.ShouldBe("Llava");
        var photo = Photo;
        const string prompt = Prompt, target = Target;
        var unrelated = Picture(200, 0);
        var (logits0, _) = await Host.Server.LogitsAsync(photo, prompt, target, AsOf.Now);
        var answer0 = (await Host.QueryAsync(photo, prompt))["answer"]!.ToString();
        answer0.Trim().ShouldNotBe(target);
        var unrelated0 = (await Host.QueryAsync(unrelated, prompt))["answer"]!.ToString();

        Guid id;
        using (var proposer = Host.Client(RunningHost.ProposerKey))
        {
            using var response = await proposer.PostAsync("/edits", RunningHost.Form(photo.ToPng(), ("prompt", prompt), ("target", target), ("rationale", "test")));
            var body = await response.Content.ReadAsStringAsync();
            ((int)response.StatusCode).ShouldBe(202, body);
            id = JsonNode.Parse(body)!["editId"]!.GetValue<Guid>();
        }
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        var edited = await Host.QueryAsync(photo, prompt);
        edited["answer"]!.ToString().Trim().ShouldBe(target, "the edit's own photo and prompt now answer its target");
        edited["experts"]!.AsArray().Select(e => e!["editId"]!.GetValue<Guid>()).ShouldBe([id], "with the edit that made it as provenance");
        var other = await Host.QueryAsync(unrelated, prompt);
        other["answer"]!.ToString().ShouldBe(unrelated0, "a photo the edit is not about keeps its answer");
        other["experts"]!.AsArray().ShouldBeEmpty();
        var (logitsEdited, _) = await Host.Server.LogitsAsync(photo, prompt, target, AsOf.Now);
        logitsEdited.ShouldNotBe(logits0);

        using (var admin = Host.Client(RunningHost.AdminKey))
        {
            using var response = await admin.PostAsJsonAsync($"/edits/{id}/retract", new { reason = "wrong" });
            ((int)response.StatusCode).ShouldBe(200, await response.Content.ReadAsStringAsync());
        }
        await Host.Server.SyncHeadAsync();
        var (logitsAfter, _) = await Host.Server.LogitsAsync(photo, prompt, target, AsOf.Now);
        logitsAfter.ShouldBe(logits0, "after the retraction the LLaVA base answers bit for bit as before the edit");
        (await Host.QueryAsync(photo, prompt))["answer"]!.ToString().ShouldBe(answer0);

        var verification = await ExpertVerification.VerifyAsync(Host.Ledger, Host.Runtime);
        verification.Identical.ShouldBe(1, "the recorded expert re-generates byte for byte on the CPU");
        verification.AllIntact.ShouldBeTrue();
    }
}
