using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// A frozen editor serves its input-side keys from managed code: they must equal the tensor road's within float32
/// rounding on many SynthWorld inputs, route alike except for experts at their threshold, never depend on the batch,
/// and leave expert generation (which keeps the tensor road) byte for byte as it was.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class computing_input_keys_in_managed_code
{
    private const double Tolerance = 1e-5;

    private static float[] F(Tensor t) => t.contiguous().data<float>().ToArray();

    // Image inputs of the committed world: each case's edit, another rendering of its entity, another entity, and its
    // image asked with another case's prompt (prompts of several lengths in one batch).
    private static List<VlmExample> Inputs(IReadOnlyList<EditCase> cases) =>
        cases.SelectMany((c, i) => new[]
        {
            c.Edit.ToExample(withAnswer: false),
            c.ImageGenerality.ToExample(withAnswer: false),
            c.ImageLocality.ToExample(withAnswer: false),
            c.ImageGenerality.ToExample(withAnswer: false) with { Prompt = cases[(i + 1) % cases.Count].Edit.Prompt },
        }).ToList();

    // Scores agree within 1e-5 relative to their size (at least 1).
    private static double Near(float value) => Tolerance * Math.Max(1, Math.Abs(value));

    // Relative difference of two keys: the largest element difference over the largest element of the tensor road's key.
    private static double Relative(ReadOnlySpan<float> managed, ReadOnlySpan<float> tensor)
    {
        double diff = 0, size = 0;
        for (var i = 0; i < tensor.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs((double)managed[i] - tensor[i]));
            size = Math.Max(size, Math.Abs(tensor[i]));
        }
        return diff / size;
    }

    [Fact]
    public void the_managed_keys_equal_the_tensor_roads_within_1e_5_on_many_synthworld_inputs()
    {
        var f = CommittedEdits.Instance;
        var cases = f.World.EditCases(EditSplit.EditorEval, 60, seed: 31);
        var worst = 0.0;
        var compared = 0;
        foreach (var chunk in Inputs(cases).Chunk(24))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var inputs = f.Model.Prepare(chunk);
            var hidden = f.Model.HiddenAtEditLayer(inputs);
            var rows = Enumerable.Range(0, chunk.Length).ToList();
            var tensor = f.Editor.InputSide(hidden, inputs, rows);
            var managed = f.Editor.InputSideManaged(hidden, inputs, rows).ShouldNotBeNull("a frozen editor on the CPU");
            float[] visual = F(tensor.Visual), sentinel = F(tensor.Sentinel), text = F(tensor.Text);
            var thresholds = F(Routing.PairSimilarity(tensor.Visual, tensor.Sentinel));
            var dim = visual.Length / rows.Count;
            var scale = KeySimilarity.Scale(f.Editor.Config.KeyRows, f.Editor.Config.ModuleDim);
            foreach (var j in rows)
            {
                var slice = new Range(j * dim, (j + 1) * dim);
                foreach (var (name, m, t) in new[] { ("φ̄", managed.Visual, visual), ("φ̄_Ξ", managed.Sentinel, sentinel), ("ψ̄", managed.Text, text) })
                {
                    var relative = Relative(m.AsSpan(slice), t.AsSpan(slice));
                    relative.ShouldBeLessThanOrEqualTo(Tolerance, $"{name} of input {compared + j}");
                    worst = Math.Max(worst, relative);
                }
                var threshold = KeySimilarity.Exact(managed.Visual.AsSpan(slice), managed.Sentinel.AsSpan(slice), scale);
                Math.Abs((double)threshold - thresholds[j]).ShouldBeLessThanOrEqualTo(Tolerance * Math.Max(1, Math.Abs(thresholds[j])), $"threshold of input {compared + j}");
            }
            compared += rows.Count;
        }
        compared.ShouldBe(240);
        worst.ShouldBeGreaterThan(0, "the two roads round differently: this compares two computations, not one");
    }

    [Fact]
    public void a_rows_keys_are_the_same_bits_alone_and_in_any_batch()
    {
        var f = CommittedEdits.Instance;
        var examples = Inputs(f.World.EditCases(EditSplit.EditorEval, 4, seed: 32));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = f.Model.Prepare(examples);
        var hidden = f.Model.HiddenAtEditLayer(inputs);
        var all = f.Editor.InputSideManaged(hidden, inputs, Enumerable.Range(0, examples.Count).ToList())!;
        var dim = all.Visual.Length / examples.Count;
        for (var i = 0; i < examples.Count; i++)
        {
            var alone = f.Editor.InputSideManaged(hidden, inputs, [i])!;
            alone.Visual.ShouldBe(all.Visual[(i * dim)..((i + 1) * dim)], $"φ̄ of input {i}");
            alone.Sentinel.ShouldBe(all.Sentinel[(i * dim)..((i + 1) * dim)], $"φ̄_Ξ of input {i}");
            alone.Text.ShouldBe(all.Text[(i * dim)..((i + 1) * dim)], $"ψ̄ of input {i}");
        }
    }

    [Fact]
    public void survivors_and_weights_agree_with_the_tensor_road_except_at_the_threshold()
    {
        var f = CommittedEdits.Instance;
        // 256 experts of edit cases made in batches without refinement (their keys are the refined experts' keys).
        var expertCases = f.World.EditCases(EditSplit.EditorEval, 256, seed: 33);
        var experts = expertCases.Chunk(64).SelectMany(chunk => Generate(f, chunk)).ToList();
        using var managed = new EditedModel(f.Model, f.Editor);
        using var tensorRoad = new EditedModel(f.Model, f.Editor, keys: managed.Keys) { ManagedKeys = false };
        for (var i = 0; i < experts.Count; i++)
        {
            managed.Add($"x{i}", experts[i], i);
            tensorRoad.Add($"x{i}", experts[i], i);
        }
        // Random inputs: random cases of the experts (their entities fire) and of fresh seeds, images paired with random prompts.
        var random = new Random(34);
        var fresh = f.World.EditCases(EditSplit.EditorEval, 64, seed: 35);
        int rows = 0, fired = 0, flipped = 0;
        for (var batch = 0; batch < 8; batch++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var examples = Enumerable.Range(0, 16).Select(_ =>
            {
                var pool = random.Next(2) == 0 ? expertCases : fresh;
                var c = pool[random.Next(pool.Count)];
                var image = random.Next(3) switch { 0 => c.Edit, 1 => c.ImageGenerality, _ => c.ImageLocality };
                var prompt = pool[random.Next(pool.Count)].Edit.Prompt;
                return image.ToExample(withAnswer: false) with { Prompt = random.Next(2) == 0 ? image.Prompt : prompt };
            }).ToList();
            var inputs = f.Model.Prepare(examples);
            var hidden = f.Model.HiddenAtEditLayer(inputs);
            var a = managed.Route(inputs, hidden);
            var b = tensorRoad.Route(inputs, hidden);
            for (var i = 0; i < examples.Count; i++, rows++)
            {
                var m = a[i].Fired.ToDictionary(x => x.Id);
                var t = b[i].Fired.ToDictionary(x => x.Id);
                foreach (var only in m.Values.Where(x => !t.ContainsKey(x.Id)).Concat(t.Values.Where(x => !m.ContainsKey(x.Id))))
                {
                    Math.Abs((double)only.VisualSimilarity - only.Threshold).ShouldBeLessThanOrEqualTo(Near(only.Threshold), $"input {rows}: {only.Id} kept by one road only");
                    flipped++;
                }
                foreach (var (id, x) in m)
                {
                    if (!t.TryGetValue(id, out var y)) continue;
                    Math.Abs((double)x.VisualSimilarity - y.VisualSimilarity).ShouldBeLessThanOrEqualTo(Near(y.VisualSimilarity), $"input {rows}: visual score of {id}");
                    Math.Abs((double)x.Threshold - y.Threshold).ShouldBeLessThanOrEqualTo(Near(y.Threshold), $"input {rows}: threshold of {id}");
                    Math.Abs((double)x.TextScore - y.TextScore).ShouldBeLessThanOrEqualTo(Near(y.TextScore), $"input {rows}: text score of {id}");
                    // A flipped expert changes every weight of its row through the softmax: weights are compared where both kept the same.
                    if (m.Count == t.Count) Math.Abs((double)x.Weight - y.Weight).ShouldBeLessThanOrEqualTo(Tolerance, $"input {rows}: weight of {id}");
                }
                a[i].Fired.Select(x => x.Id).Where(t.ContainsKey).ShouldBe(b[i].Fired.Select(x => x.Id).Where(m.ContainsKey), $"input {rows}: fusion order");
                fired += b[i].Fired.Count;
            }
        }
        rows.ShouldBe(128);
        fired.ShouldBeGreaterThan(128, "the inputs must make experts fire for the comparison to say anything");
        flipped.ShouldBeLessThanOrEqualTo(fired / 100);
    }

    [Fact]
    public void expert_generation_keeps_its_bytes()
    {
        // Generation (edit side and refinement) stays on the tensor road: the committed editor's experts keep the SHA-256s
        // they had before the input side was served from managed code.
        CommittedEdits.Instance.Experts.Select(e => e.Sha256).ShouldBe(
        [
            "7fbb4e42f224eb75935b1df6c4599567e6d14a1e40f5d4868988ea97ed92932c",
            "a42eb671979946bcf82cd1fafa75fb02b3c78c861fe6f01839dac5cf537aadf5",
            "7b7c16042ea10be47a1c00806bb1821b6ba0bff7fc17f62e417db4693ba23985",
        ]);
    }

    [Fact]
    public void the_exponential_is_within_two_units_in_the_last_place_of_the_libraries()
    {
        var random = new Random(36);
        for (var i = 0; i < 100_000; i++)
        {
            var x = i < 10 ? -i * 0.5 : -random.NextDouble() * (i % 2 == 0 ? 20 : 745);
            var expected = Math.Exp(x);
            if (expected < double.Epsilon * (1L << 52)) continue; // subnormal results carry fewer bits
            Math.Abs(ManagedMath.Exp(x) - expected).ShouldBeLessThanOrEqualTo(4.5e-16 * expected, $"e^{x:R}");
        }
        ManagedMath.Exp(0).ShouldBe(1.0);
        ManagedMath.Exp(-800).ShouldBe(0.0);
    }

    [Fact]
    public void soft_weights_in_float64_equal_the_tensor_equation_within_1e_6()
    {
        var random = new Random(38);
        foreach (var n in new[] { 1, 2, 7, 69, 700 })
        {
            var scores = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 40 - 20)).ToArray();
            var weights = new float[n];
            ManagedMath.SoftWeights(scores, weights);
            using var scope = NewDisposeScope();
            var expected = F(Routing.SoftWeights(tensor(scores, [1, n])));
            for (var j = 0; j < n; j++) Math.Abs((double)weights[j] - expected[j]).ShouldBeLessThanOrEqualTo(1e-6 * Math.Max(1e-3, expected[j]), $"weight {j} of {n}");
        }
    }

    [Fact]
    public void the_projections_dot_products_are_the_filters_bit_for_bit()
    {
        var random = new Random(39);
        foreach (var n in new[] { 1, 7, 8, 15, 16, 24, 33, 96, 100 })
        {
            var rows = Enumerable.Range(0, 4 * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var x = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var wideRows = Array.ConvertAll(rows, v => (double)v);
            var wideX = Array.ConvertAll(x, v => (double)v);
            var sums = new double[4];
            ManagedMath.Dot4(wideRows, wideX, sums);
            for (var j = 0; j < 4; j++)
            {
                var expected = KeySimilarity.Dot(rows.AsSpan(j * n, n), x);
                sums[j].ShouldBe(expected, $"row {j} of four, n = {n}");
                ManagedMath.Dot(wideRows.AsSpan(j * n, n), wideX).ShouldBe(expected, $"row {j} alone, n = {n}");
            }
        }
    }

    // Experts straight from the generators (no refinement), one forward for the chunk.
    private static IEnumerable<Expert> Generate(CommittedEdits f, IReadOnlyList<EditCase> cases)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = f.Model.Prepare(cases.Select(c => c.Edit.ToExample(withAnswer: false) with { Answer = c.NewTarget }).ToList());
        var hidden = f.Model.HiddenAtEditLayer(inputs);
        var e = f.Editor.EditSide(hidden, inputs, Enumerable.Range(0, cases.Count).ToList());
        var c = f.Editor.Config;
        return Enumerable.Range(0, cases.Count).Select(i => new Expert(c.HiddenSize, c.Rank, c.KeyRows, c.ModuleDim,
            F(e.U[i]), F(e.V[i]), F(e.VisualKey[i]), F(e.TextKey[i]), f.Model.WeightsSha256, f.Editor.GeneratorSha256)).ToList();
    }
}
