using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// The LLaVA formulas against values worked out by hand (the constants were computed in double precision from the
/// formulas as the papers state them), not against a second reading of the reference code.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class computing_llava_formulas_by_hand
{
    private static readonly float[] Inputs = [-2f, -0.5f, 0f, 1f, 3f];

    private static float[] Values(Tensor t) => t.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();

    private static void ShouldBeClose(float[] actual, double[] expected, double tolerance, string what)
    {
        actual.Length.ShouldBe(expected.Length, what);
        for (var i = 0; i < expected.Length; i++)
            Math.Abs(actual[i] - expected[i]).ShouldBeLessThanOrEqualTo(tolerance, $"{what}[{i}]: {actual[i]} against {expected[i]}");
    }

    [Fact]
    public void quick_gelu_is_x_times_the_sigmoid_of_1_702_x()
    {
        using var scope = NewDisposeScope();
        ShouldBeClose(Values(LlavaOps.QuickGelu(tensor(Inputs))), [-0.0643414, -0.1496116, 0, 0.8457958, 2.9819287], 1e-6, "quick-GELU");
    }

    [Fact]
    public void siglip_gelu_is_the_tanh_approximation_and_the_projector_gelu_the_exact_one()
    {
        using var scope = NewDisposeScope();
        ShouldBeClose(Values(LlavaOps.TanhGelu(tensor(Inputs))), [-0.0454023, -0.1542860, 0, 0.8411920, 2.9963626], 1e-6, "tanh-GELU");
        ShouldBeClose(Values(LlavaOps.Gelu(tensor(Inputs))), [-0.0455003, -0.1542688, 0, 0.8413447, 2.9959503], 1e-6, "erf GELU");
        LlavaOps.Activation("quick_gelu").ShouldNotBeNull();
        Should.Throw<NotSupportedException>(() => LlavaOps.Activation("relu6"));
    }

    [Fact]
    public void rms_norm_divides_by_the_root_mean_square_and_scales_by_its_weight()
    {
        using var scope = NewDisposeScope();
        // mean((1, −2, 3, −4)²) = 30/4 = 7.5; 1/√7.5 = 0.3651483
        var normed = LlavaOps.RmsNorm(tensor(new[] { 1f, -2f, 3f, -4f }), tensor(new[] { 2f, 1f, 0.5f, 1f }), 1e-6);
        ShouldBeClose(Values(normed), [0.7302967, -0.7302967, 0.5477225, -1.4605934], 1e-6, "RMSNorm");
    }

    [Fact]
    public void rms_norm_of_half_precision_input_is_computed_in_float32()
    {
        using var scope = NewDisposeScope();
        // 400² = 160000 overflows float16 (largest 65504); in float32 the RMS is √((300² + 400²)/2) = 353.5534.
        var x = tensor(new[] { 300f, 400f }).to_type(ScalarType.Float16);
        var normed = LlavaOps.RmsNorm(x, ones(2, ScalarType.Float16), 1e-6);
        normed.dtype.ShouldBe(ScalarType.Float16, "cast back to the input's dtype");
        ShouldBeClose(Values(normed), [0.8485281, 1.1313708], 2e-3, "float16 RMSNorm");
    }

    [Fact]
    public void rope_turns_dimension_j_with_dimension_j_plus_half_by_the_position_times_its_frequency()
    {
        using var scope = NewDisposeScope();
        // head width 4, θ = 100: frequencies 100^(−0/4) = 1 and 100^(−2/4) = 0.1. Dimension 0 pairs with 2, 1 with 3
        // (rotate_half), not 0 with 1 (the interleaved convention).
        const int p = 2;
        var (cos, sin) = LlavaOps.RopeTables(tensor(new long[] { p }).view(1, 1), 4, 100, ScalarType.Float32);   // [1, 1, 4]
        var x = tensor(new[] { 1f, 2f, 3f, 4f }).view(1, 1, 1, 4);
        var rotated = Values(LlavaOps.ApplyRope(x, cos, sin));
        double a = p * 1.0, b = p * 0.1;
        ShouldBeClose(rotated, [1 * Math.Cos(a) - 3 * Math.Sin(a), 2 * Math.Cos(b) - 4 * Math.Sin(b), 3 * Math.Cos(a) + 1 * Math.Sin(a), 4 * Math.Cos(b) + 2 * Math.Sin(b)], 1e-6, "RoPE at 2");

        var unit = Values(LlavaOps.ApplyRope(tensor(new[] { 1f, 0f, 0f, 0f }).view(1, 1, 1, 4), cos, sin));
        ShouldBeClose(unit, [Math.Cos(2), 0, Math.Sin(2), 0], 1e-6, "e₀ turns towards e₂");

        var (cos0, sin0) = LlavaOps.RopeTables(tensor(new long[] { 0 }).view(1, 1), 4, 100, ScalarType.Float32);
        ShouldBeClose(Values(LlavaOps.ApplyRope(x, cos0, sin0)), [1, 2, 3, 4], 0, "position 0 is the identity");
    }

    [Fact]
    public void rope_makes_attention_scores_depend_only_on_the_distance_between_positions()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var q = randn([1, 1, 1, 8], generator: g);
        var k = randn([1, 1, 1, 8], generator: g);
        double Score(long m, long n)
        {
            var (cm, sm) = LlavaOps.RopeTables(tensor(new[] { m }).view(1, 1), 8, 10000, ScalarType.Float32);
            var (cn, sn) = LlavaOps.RopeTables(tensor(new[] { n }).view(1, 1), 8, 10000, ScalarType.Float32);
            return (LlavaOps.ApplyRope(q, cm, sm) * LlavaOps.ApplyRope(k, cn, sn)).sum().item<float>();
        }
        Score(7, 3).ShouldBe(Score(14, 10), 1e-4);
        Score(7, 3).ShouldBe(Score(4, 0), 1e-4);
        Math.Abs(Score(7, 3) - Score(7, 4)).ShouldBeGreaterThan(1e-3, "another distance, another score");
    }

    [Fact]
    public void grouped_kv_heads_equal_the_same_heads_repeated_explicitly()
    {
        using var scope = NewDisposeScope();
        using var grouped = TinyLlava.Create(TinyLlava.ClipLlama(kvHeads: 2), seed: 4);
        using var full = TinyLlava.Create(TinyLlava.ClipLlama(kvHeads: 4), seed: 9);
        var hd = grouped.Config.Text.HeadDim;
        var source = grouped.NamedWeights().ToDictionary(w => w.Name, w => w.Tensor);
        using (no_grad())
            foreach (var (name, target) in full.NamedWeights())
            {
                var from = source[name];
                if (name.StartsWith("language_model.") && (name.EndsWith("k_proj.weight") || name.EndsWith("v_proj.weight")))
                    // Query heads 0, 1 read KV head 0; query heads 2, 3 read KV head 1.
                    from = cat([from.narrow(0, 0, hd), from.narrow(0, 0, hd), from.narrow(0, hd, hd), from.narrow(0, hd, hd)], 0);
                target.copy_(from);
            }
        VlmExample[] batch = [new(TinyLlava.Image(1), "what is this?", "a cat"), new(null, "name a colour", "red")];
        var a = grouped.Logits(grouped.Prepare(batch));
        var b = full.Logits(full.Prepare(batch));
        (a - b).abs().max().item<float>().ShouldBeLessThan(1e-5f);
        a.abs().max().item<float>().ShouldBeGreaterThan(0.1f, "the logits are not trivially zero");
    }
}
