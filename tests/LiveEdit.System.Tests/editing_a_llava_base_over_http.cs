using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Serving;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.System.Tests;

/// <summary>
/// An inference host with its workers configured with <c>Model__Kind=Llava</c> and a tiny LLaVA checkpoint: an edit
/// proposed over HTTP becomes an expert, the answer comes with its provenance, and its retraction gives back the logits
/// of before bit for bit. The editor has random weights and a filter margin that keeps every expert: the test follows
/// the ledger and the plumbing, not the editor's quality.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class editing_a_llava_base_over_http(PostgresFixture postgres) : HostPerClass(postgres), IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llava-host-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        var baseFolder = TinyLlavaCheckpoint.Write(Path.Combine(_folder, "llava"), new TinyLlavaOptions());
        var editorFolder = Path.Combine(_folder, "editor");
        var model = VlmLoader.Load("Llava", baseFolder);
        using (model as IDisposable)
        {
            manual_seed(11);
            using var editor = new EditorModules(EditorConfig.For(model.Shape, new EditorHyperParameters()));
            editor.WithPolicy(RoutingPolicy.Paper with { Margin = 1000 });
            editor.Save(editorFolder, new EditorProvenance(model.WeightsSha256, Seed: 11, Steps: 0, Threads: 1, Command: "test", Seconds: 0));
        }
        var settings = Settings.InMemory(postgres, schema);
        settings["Model:Kind"] = "Llava";
        settings["Model:BaseFolder"] = baseFolder;
        settings["Model:EditorFolder"] = editorFolder;
        return settings;
    }

    [Fact]
    public async Task an_edit_is_answered_with_its_provenance_and_its_retraction_restores_the_logits_bit_for_bit()
    {
        Host.Runtime.Model.Kind.ShouldBe("Llava");
        var photo = new RgbImage(40, 30, Enumerable.Range(0, 40 * 30 * 3).Select(i => (byte)(i * 7 % 256)).ToArray());
        const string prompt = "what is this?", target = "cat";
        var (logits0, _) = await Host.Server.LogitsAsync(photo, prompt, target, AsOf.Now);
        var answer0 = (await Host.QueryAsync(photo, prompt))["answer"]!.ToString();

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
        edited["experts"]!.AsArray().Select(e => e!["editId"]!.GetValue<Guid>()).ShouldContain(id);
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
