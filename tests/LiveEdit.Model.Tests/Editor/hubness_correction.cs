using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The hubness correction (our extension, <see cref="FilterBank"/>): keep e iff
/// sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ) − margin + λ·o_e, o_e the mean of e's K largest excesses over a bank's thresholds.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class hubness_correction
{
    private const double Lambda = 1.0;
    private const int TopK = 3;

    [Fact]
    public void an_expert_passes_only_above_its_own_offset_and_removing_it_is_exact()
    {
        var f = new EditorFixture(seed: 23, edits: 8);
        var bankQueries = BankQueries(seed: 24, count: 10);
        var bank = FilterBank.Build(f.Model, f.Editor, bankQueries);
        bank.Count.ShouldBe(10);

        // Float64 reference of the bank (batched forward, so the bank's one-at-a-time keys agree only to rounding).
        var (bankKeys, bankThresholds) = ReferenceInputKeys(f, bankQueries);
        var (keys, thresholds) = ReferenceInputKeys(f, f.ImageQueries());
        var queries = f.ImageQueries();
        int e = f.Experts.Count, d = bank.Dim;
        var scale = 1.0 / (f.Editor.Config.KeyRows * Math.Sqrt(f.Editor.Config.ModuleDim));
        double Sim(double[] a, int i, IReadOnlyList<float> b) => Enumerable.Range(0, d).Sum(j => a[i * d + j] * b[j]) * scale;
        var offsets = new double[e];
        for (var x = 0; x < e; x++)
        {
            var key = f.Experts[x].VisualKey.ToArray();
            // Eq. (ours) o_e = mean of the top K of sim(φ̄_b, φ̂_e) − t_b
            offsets[x] = Enumerable.Range(0, bank.Count).Select(b => Sim(bankKeys, b, key) - bankThresholds[b]).OrderDescending().Take(TopK).Average();
            bank.Hubness(f.Experts[x].VisualKey, TopK).ShouldBe(offsets[x], 1e-4);
        }
        offsets.Max().ShouldBeGreaterThan(offsets.Min() + 1e-3, "experts differ in hubness");

        // A margin in the middle of the corrected gaps, away from all of them, so that both sides of the filter are met.
        var gaps = new double[queries.Count, e];
        for (var i = 0; i < queries.Count; i++)
            for (var x = 0; x < e; x++) gaps[i, x] = Sim(keys, i, f.Experts[x].VisualKey.ToArray()) - thresholds[i] - Lambda * offsets[x];
        var sorted = gaps.Cast<double>().Order().ToArray();
        var (mid, room) = Enumerable.Range(sorted.Length / 4, sorted.Length / 2).Select(j => ((sorted[j] + sorted[j + 1]) / 2, sorted[j + 1] - sorted[j]))
            .MaxBy(p => p.Item2);
        room.ShouldBeGreaterThan(1e-3, "a margin with room on both sides");
        var margin = -mid;

        f.Editor.WithFilterMargin(margin).WithHubness(bank, Lambda, TopK);
        var hubSha = f.Editor.GeneratorSha256;
        hubSha.ShouldBe(f.Editor.WithHubness(bank, 0, TopK).GeneratorSha256, "routing is a serving setting, not the generator's identity");
        f.Editor.WithHubness(bank, Lambda, TopK);
        var experts = f.Edits.Select(new ExpertGenerator(f.Model, f.Editor).Generate).ToList();
        using var edited = new EditedModel(f.Model, f.Editor);
        for (var x = 0; x < e; x++) edited.Add($"e{x}", experts[x], x);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = f.Model.Prepare(queries);
        var (logits, routes) = edited.Logits(inputs);
        int kept = 0, changed = 0;
        for (var i = 0; i < queries.Count; i++)
        {
            var expected = Enumerable.Range(0, e).Where(x => gaps[i, x] > -margin).Select(x => $"e{x}").ToList();
            routes[i].Fired.Select(r => r.Id).ShouldBe(expected, $"query {i}");
            foreach (var r in routes[i].Fired)
            {
                var x = int.Parse(r.Id[1..]);
                r.Threshold.ShouldBe((float)(thresholds[i] - margin + Lambda * offsets[x]), 1e-3f, "the threshold it passed is its own");
                r.VisualSimilarity.ShouldBeGreaterThan(r.Threshold);
            }
            kept += expected.Count;
            // Without the correction the same margin would decide differently somewhere (else this test could not fail).
            changed += Enumerable.Range(0, e).Count(x => gaps[i, x] > -margin != gaps[i, x] + Lambda * offsets[x] > -margin);
        }
        kept.ShouldBeGreaterThan(0);
        kept.ShouldBeLessThan(queries.Count * e);
        changed.ShouldBeGreaterThan(0, "the correction changes some decisions");

        // An expert removed = the edit never happened, bit for bit (its offset is its own, not the set's).
        edited.Remove("e3").ShouldBeTrue();
        using var never = new EditedModel(f.Model, f.Editor);
        for (var x = 0; x < e; x++) if (x != 3) never.Add($"e{x}", experts[x], x);
        var (without, _) = edited.Logits(inputs);
        var (neverAdded, _) = never.Logits(inputs);
        var bits = without.data<float>().ToArray();
        bits.ShouldBe(neverAdded.data<float>().ToArray(), "bit for bit");
        bits.SequenceEqual(logits.data<float>().ToArray()).ShouldBeFalse("e3 mattered to some query");
    }

    [Fact]
    public void a_saved_bank_is_checked_and_bad_settings_change_nothing()
    {
        var f = new EditorFixture(seed: 25, edits: 3);
        var paperSha = f.Editor.GeneratorSha256;
        var bank = FilterBank.Build(f.Model, f.Editor, BankQueries(seed: 26, count: 5));
        FilterBank.Build(f.Model, f.Editor, BankQueries(seed: 26, count: 5)).Sha256.ShouldBe(bank.Sha256, "a bank is a pure function of its queries");

        Should.Throw<ArgumentException>(() => f.Editor.WithHubness(null, 1, 2), "a weight needs a bank");
        Should.Throw<ArgumentException>(() => f.Editor.WithHubness(bank, double.NaN, 2));
        Should.Throw<ArgumentException>(() => f.Editor.WithHubness(bank, -1, 2));
        Should.Throw<ArgumentException>(() => f.Editor.WithHubness(bank, 1, 0));
        Should.Throw<ArgumentException>(() => f.Editor.WithHubness(bank, 1, 6), "K beyond the bank");
        f.Editor.GeneratorSha256.ShouldBe(paperSha, "refused settings change nothing");
        f.Editor.Bank.ShouldBeNull();

        f.Editor.WithHubness(bank, 0.5, 2);
        var hubSha = f.Editor.GeneratorSha256;
        var folder = Directory.CreateTempSubdirectory("hubness-").FullName;
        try
        {
            f.Editor.Save(folder, new EditorProvenance("base", 25, 0, 1, "test", 0));
            var (loaded, _) = EditorModules.Load(folder);
            loaded.GeneratorSha256.ShouldBe(hubSha);
            loaded.Bank!.Sha256.ShouldBe(bank.Sha256);
            loaded.DefaultPolicy.HubnessTopK.ShouldBe(2);
            var file = Path.Combine(folder, FilterBank.FileName);
            var bytes = File.ReadAllBytes(file);
            bytes[^1] ^= 1;
            File.WriteAllBytes(file, bytes);
            Should.Throw<InvalidDataException>(() => EditorModules.Load(folder)).Message.ShouldContain("SHA-256");
        }
        finally { Directory.Delete(folder, recursive: true); }

        // Changed weights make the bank's keys stale: it is dropped with the correction.
        f.Editor.InvalidateHash();
        f.Editor.Bank.ShouldBeNull();
        f.Editor.DefaultPolicy.HubnessWeight.ShouldBe(0);
        f.Editor.GeneratorSha256.ShouldBe(paperSha);
    }

    private static List<VlmExample> BankQueries(long seed, int count)
    {
        var generator = new Generator((ulong)seed);
        return Enumerable.Range(0, count).Select(i => new VlmExample(rand([3, 8, 8], generator: generator).DetachFromDisposeScope(), $"what is w{i % 4} x{i % 3} ?")).ToList();
    }

    /// <summary>φ̄ [n·k·d_m] and t = sim(φ̄, φ̄_Ξ) [n] in float64 from one batched forward.</summary>
    private static (double[] Keys, double[] Thresholds) ReferenceInputKeys(EditorFixture f, IReadOnlyList<VlmExample> queries)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = f.Model.Prepare(queries.Select(q => q with { Answer = null }).ToList());
        var hidden = f.Model.HiddenAtEditLayer(inputs);
        var keys = f.Editor.InputSide(hidden, inputs, Enumerable.Range(0, queries.Count).ToList());
        var visual = keys.Visual.to_type(ScalarType.Float64);
        var sentinel = keys.Sentinel.to_type(ScalarType.Float64);
        var t = (visual * sentinel).sum([1, 2]) * (1.0 / (f.Editor.Config.KeyRows * Math.Sqrt(f.Editor.Config.ModuleDim)));
        return (visual.contiguous().data<double>().ToArray(), t.data<double>().ToArray());
    }
}
