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
/// and without refinement: the generator's own one-shot U, V and keys (the paper's experts; the workers refine theirs,
/// see <see cref="ExpertGenerator"/>). Each edit's whole life up to activation (proposed, approved, expert recorded,
/// activated) is decided by the ledger's own rules and appended in bulk (<see cref="EditLedger.AppendActiveEditsAsync"/>:
/// the ordinary append path, many edits per transaction), after its image (PNG) and expert blobs are stored, many per
/// statement. The hash chain, the blobs and the projections are the real ones. The same seed gives the same edits, ids
/// and expert bytes; with one writer the order of the appends is the same too.
/// </summary>
public static class LedgerFixture
{
    /// <summary>Edit cases drawn per block (blocks keep memory flat at 100,000 experts).</summary>
    public const int Block = 1_000;

    /// <summary>Who approves the fixture's edits (never the proposer, so any approval policy accepts them).</summary>
    public const string Approver = "bench-fixture-approver";

    /// <summary>The id of edit <paramref name="index"/> of a fixture built with <paramref name="seed"/>.</summary>
    public static Guid EditId(int seed, int index) =>
        new(SHA256.HashData(BitConverter.GetBytes(((long)seed << 32) | (uint)index)).AsSpan(0, 16));

    /// <summary>
    /// Appends <paramref name="experts"/> active experts to <paramref name="ledger"/>. <paramref name="batch"/> edits share a
    /// forward pass; <paramref name="writers"/> store blobs and append in bulk concurrently while the next batches are generated.
    /// </summary>
    public static async Task<FixtureResult> BuildAsync(EditLedger ledger, IVisionLanguageModel model, EditorModules editor, int experts, int seed,
        int batch = 64, int writers = 1, TextWriter? output = null, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(writers, 1);
        var world = new SynthWorld(WorldConfig.Default);
        var clock = Stopwatch.StartNew();
        var generating = new Stopwatch();
        var ready = Channel.CreateBounded<(int First, IReadOnlyList<EditCase> Cases, IReadOnlyList<Expert> Experts)>(
            new BoundedChannelOptions(Math.Max(2, 2 * writers)) { SingleWriter = true });
        var appended = 0;
        var nextReport = 1_000;
        var report = new object();

        var appenders = Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            await foreach (var (first, cases, made) in ready.Reader.ReadAllAsync(ct))
            {
                await AppendAsync(ledger, seed, first, cases, made, ct);
                var done = Interlocked.Add(ref appended, cases.Count);
                lock (report)
                {
                    if (done < nextReport) continue;
                    output?.WriteLine($"  {done} experts active ({clock.Elapsed.TotalSeconds:F1} s)");
                    while (nextReport <= done) nextReport += 1_000;
                }
            }
        }, ct)).ToList();

        try
        {
            for (var start = 0; start < experts; start += Block)
            {
                var cases = world.EditCases(EditSplit.EditorEval, Math.Min(Block, experts - start), seed: unchecked(seed * 1_000_003 + start / Block));
                // Up to one transaction's worth of edits per hand-over: fewer, larger bulk appends.
                var perAppend = Math.Max(batch, EditLedger.ActiveEditsPerAppend / batch * batch);
                for (var first = 0; first < cases.Count; first += perAppend)
                {
                    var slice = cases.Skip(first).Take(perAppend).ToList();
                    var made = new List<Expert>(slice.Count);
                    generating.Start();
                    for (var b = 0; b < slice.Count; b += batch) made.AddRange(Generate(model, editor, slice.Skip(b).Take(batch).ToList()));
                    generating.Stop();
                    await ready.Writer.WriteAsync((start + first, slice, made), ct);
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

    private static async Task AppendAsync(EditLedger ledger, int seed, int first, IReadOnlyList<EditCase> cases, IReadOnlyList<Expert> experts, CancellationToken ct)
    {
        var images = await ledger.Blobs.PutManyAsync(cases.Select(c => c.Edit.Image!.ToPng()).ToList(), ct);
        var blobs = await ledger.Blobs.PutManyAsync(experts.Select(e => e.ToBytes()).ToList(), ct);
        var edits = cases.Select((c, j) =>
        {
            var id = EditId(seed, first + j);
            var expert = experts[j];
            return new ActiveEditLifecycle(
                new ProposeEdit(id, images[j], c.Edit.Prompt, c.NewTarget, $"fixture case {c.Id}", "bench-fixture", ["fixture"]),
                new RecordExpert(id, blobs[j], expert.GeneratorSha256, expert.BaseSha256, expert.Rank, expert.HiddenSize,
                    "bench-fixture", 0, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray()));
        }).ToList();
        await ledger.AppendActiveEditsAsync(edits, Approver, ct);
    }
}
