using System.Diagnostics;
using System.Security.Cryptography;
using System.Threading.Channels;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Bench.Fixtures;

/// <summary>What <see cref="LedgerFixture.BuildAsync"/> made, with its times in seconds.</summary>
public sealed record FixtureResult(int Experts, int Seed, long HeadVersion, int ActiveAtHead, double GenerateSeconds, double TotalSeconds)
{
    /// <summary>Active experts appended per second, everything included.</summary>
    public double ExpertsPerSecond => Experts / TotalSeconds;
}

/// <summary>
/// Builds a ledger with N active experts fast, for measurements at scale (built once and kept; never part of the
/// tests' normal run). The edits are SynthWorld edit cases without their entity/attribute tags and with no
/// supersession, so every one stays active. Their experts come from the committed editor in batched forward passes
/// and without refinement (the generator's own U, V and keys; see <see cref="ExpertGenerator"/> for the one-at-a-time,
/// refined road the workers take). Every edit goes through the ledger's own commands — proposed (approved by the
/// auto-approve policy), image and expert blobs stored, expert recorded (which activates it) — so the hash chain,
/// the blobs and the projections are the real ones. The same seed gives the same edits, ids and expert bytes;
/// with several writers the order of the appends varies.
/// </summary>
public static class LedgerFixture
{
    /// <summary>Edit cases drawn per block (blocks keep memory flat at 100,000 experts).</summary>
    public const int Block = 1_000;

    /// <summary>The id of edit <paramref name="index"/> of a fixture built with <paramref name="seed"/>.</summary>
    public static Guid EditId(int seed, int index) =>
        new(SHA256.HashData(BitConverter.GetBytes(((long)seed << 32) | (uint)index)).AsSpan(0, 16));

    /// <summary>
    /// Appends <paramref name="experts"/> active experts to <paramref name="ledger"/>, whose approval policy must approve
    /// by itself (<see cref="ApprovalPolicy.AutoApprove"/>). <paramref name="batch"/> edits share a forward pass;
    /// <paramref name="writers"/> append concurrently while the next batches are generated.
    /// </summary>
    public static async Task<FixtureResult> BuildAsync(EditLedger ledger, IVisionLanguageModel model, EditorModules editor, int experts, int seed,
        int batch = 64, int writers = 4, TextWriter? output = null, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        var world = new SynthWorld(WorldConfig.Default);
        var clock = Stopwatch.StartNew();
        var generating = Stopwatch.StartNew();
        var ready = Channel.CreateBounded<(int Index, EditCase Case, Expert Expert)>(new BoundedChannelOptions(4 * batch) { SingleWriter = true });
        var appended = 0;

        var appenders = Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            await foreach (var (index, c, expert) in ready.Reader.ReadAllAsync(ct))
            {
                await AppendAsync(ledger, EditId(seed, index), c, expert, ct);
                var done = Interlocked.Increment(ref appended);
                if (done % 1_000 == 0) output?.WriteLine($"  {done} experts active ({clock.Elapsed.TotalSeconds:F1} s)");
            }
        }, ct)).ToList();

        try
        {
            for (var start = 0; start < experts; start += Block)
            {
                var cases = world.EditCases(EditSplit.EditorEval, Math.Min(Block, experts - start), seed: unchecked(seed * 1_000_003 + start / Block));
                for (var first = 0; first < cases.Count; first += batch)
                {
                    var slice = cases.Skip(first).Take(batch).ToList();
                    generating.Start();
                    var made = Generate(model, editor, slice);
                    generating.Stop();
                    for (var j = 0; j < slice.Count; j++) await ready.Writer.WriteAsync((start + first + j, slice[j], made[j]), ct);
                }
            }
        }
        finally
        {
            ready.Writer.Complete();
        }
        await Task.WhenAll(appenders);

        var active = await ledger.GetActiveExpertsAsync(ct);
        return new FixtureResult(experts, seed, active.Version, active.Experts.Count, generating.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The experts of <paramref name="cases"/> from one forward pass, without refinement.</summary>
    public static IReadOnlyList<Expert> Generate(IVisionLanguageModel model, EditorModules editor, IReadOnlyList<EditCase> cases)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        editor.eval();
        var inputs = model.Prepare(cases.Select(c => new VlmExample(model.ImageInput(c.Edit.Image!), c.Edit.Prompt, c.NewTarget)).ToList());
        var hidden = LiveEdit.Model.Runtime.DeviceTensors.AsFloat32(model.HiddenAtEditLayer(inputs));
        var e = editor.EditSide(hidden, inputs, Enumerable.Range(0, cases.Count).ToList());
        var config = editor.Config;
        static float[] Row(Tensor t, int i) => LiveEdit.Model.Runtime.DeviceTensors.HostFloats(t[i]);
        return Enumerable.Range(0, cases.Count).Select(i => new Expert(config.HiddenSize, config.Rank, config.KeyRows, config.ModuleDim,
            Row(e.U, i), Row(e.V, i), Row(e.VisualKey, i), Row(e.TextKey, i), model.WeightsSha256, editor.GeneratorSha256)).ToList();
    }

    private static async Task AppendAsync(EditLedger ledger, Guid id, EditCase c, Expert expert, CancellationToken ct)
    {
        var image = await ledger.Blobs.PutAsync(c.Edit.Image!.ToPng(), ct);
        await ledger.ProposeAsync(new ProposeEdit(id, image, c.Edit.Prompt, c.NewTarget, $"fixture case {c.Id}", "bench-fixture", ["fixture"]), ct);
        var sha = await ledger.Blobs.PutAsync(expert.ToBytes(), ct);
        await ledger.RecordExpertAsync(new RecordExpert(id, sha, expert.GeneratorSha256, expert.BaseSha256, expert.Rank, expert.HiddenSize,
            "bench-fixture", 0, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray()), ct: ct);
    }
}
