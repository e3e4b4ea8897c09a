using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The routing steps that run on managed spans once the input-side keys are made: the exact dot products of the filter
/// and the fusion operands built from the survivors, each against a plain reference.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class routing_on_managed_spans
{
    // The documented order of KeySimilarity.Dot (what every score of the filter and the text scores rests on), one addition at a time.
    private static double Reference(float[] a, float[] b)
    {
        var lanes = new double[8];
        var i = 0;
        for (; i + 8 <= a.Length; i += 8)
            for (var j = 0; j < 8; j++) lanes[j] += (double)a[i + j] * b[i + j];
        double v0 = lanes[0] + lanes[4], v1 = lanes[1] + lanes[5], v2 = lanes[2] + lanes[6], v3 = lanes[3] + lanes[7];
        var sum = (v0 + v2) + (v1 + v3);
        for (; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }

    [Fact]
    public void a_dot_product_adds_in_its_documented_order_bit_for_bit()
    {
        var random = new Random(21);
        foreach (var n in Enumerable.Range(0, 41).Append(384).Append(1001))
            for (var trial = 0; trial < 40; trial++)
            {
                // Magnitudes over many orders, so that another order of additions would round differently.
                float Value() => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 7)));
                var a = Enumerable.Range(0, n).Select(_ => Value()).ToArray();
                var b = Enumerable.Range(0, n).Select(_ => Value()).ToArray();
                BitConverter.DoubleToInt64Bits(KeySimilarity.Dot(a, b)).ShouldBe(BitConverter.DoubleToInt64Bits(Reference(a, b)), $"length {n}, trial {trial}");
            }
    }

    [Fact]
    public void a_fused_multiply_add_of_float32_values_gives_the_bits_of_a_multiplication_then_an_addition()
    {
        // Any finite float32 pair, subnormals and the largest included, against any finite float64 sum: the product is
        // exact in float64, so one rounding of a·b + c is the rounding of the unfused addition.
        var random = new Random(23);
        float Float()
        {
            while (true)
            {
                var x = BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue));
                if (float.IsFinite(x)) return x;
            }
        }
        double Double()
        {
            while (true)
            {
                var x = BitConverter.Int64BitsToDouble(random.NextInt64(long.MinValue, long.MaxValue));
                if (double.IsFinite(x)) return x;
            }
        }
        for (var trial = 0; trial < 20_000; trial++)
        {
            var a = Enumerable.Range(0, 4).Select(_ => (double)Float()).ToArray();
            var b = Enumerable.Range(0, 4).Select(_ => (double)Float()).ToArray();
            // The sum so far: near the product (where the rounding of the addition matters most) or anywhere.
            var c = Enumerable.Range(0, 4).Select(j => trial % 2 == 0 ? -a[j] * b[j] * (1 + Math.ScaleB(random.NextDouble(), -30)) : Double()).ToArray();
            var fused = KeySimilarity.MultiplyAdd(System.Runtime.Intrinsics.Vector256.Create(a), System.Runtime.Intrinsics.Vector256.Create(b),
                System.Runtime.Intrinsics.Vector256.Create(c));
            for (var j = 0; j < 4; j++)
            {
                var product = a[j] * b[j];
                var unfused = c[j] + product;
                BitConverter.DoubleToInt64Bits(fused[j]).ShouldBe(BitConverter.DoubleToInt64Bits(unfused), $"{a[j]:R} · {b[j]:R} + {c[j]:R}");
            }
        }
    }

    [Fact]
    public void four_dot_products_at_once_give_the_bits_of_each_alone()
    {
        var random = new Random(22);
        Span<double> sums = stackalloc double[4];
        foreach (var n in Enumerable.Range(0, 41).Append(384).Append(1001))
            for (var trial = 0; trial < 20; trial++)
            {
                float Value() => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 7)));
                var q = Enumerable.Range(0, n).Select(_ => Value()).ToArray();
                var rows = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, n).Select(_ => Value()).ToArray()).ToArray();
                KeySimilarity.Dot4(q, rows[0], rows[1], rows[2], rows[3], sums);
                for (var j = 0; j < 4; j++)
                    BitConverter.DoubleToInt64Bits(sums[j]).ShouldBe(BitConverter.DoubleToInt64Bits(Reference(q, rows[j])), $"length {n}, trial {trial}, row {j}");
            }
    }

    [Fact]
    public void the_fusion_operands_add_the_weighted_residual_of_the_tensor_equation()
    {
        TorchRuntime.Configure(1, 9);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        const int S = 5, R = 3, D = 16, L = 7;
        var random = new Random(9);
        var experts = Enumerable.Range(0, S).Select(_ => new Expert(D, R, 2, 4,
            Floats(random, R * D), Floats(random, R * D), Floats(random, 8), Floats(random, 8), new string('a', 64), new string('b', 64))).ToList();
        var weights = Enumerable.Range(0, S).Select(_ => (float)random.NextDouble()).ToArray();
        var hidden = randn(L, D);
        var normed = nn.functional.layer_norm(hidden, [D]);
        using var operands = FusionOperands.Of(experts, weights);
        operands.Parts.ShouldBe(S * R);
        var got = operands.AddTo(hidden, normed).data<float>().ToArray();
        var u = tensor(experts.SelectMany(e => e.U.ToArray()).ToArray()).reshape(S, R, D);
        var v = tensor(experts.SelectMany(e => e.V.ToArray()).ToArray()).reshape(S, R, D);
        var expected = (hidden + Routing.FusedResidual(normed.unsqueeze(0), u, v, tensor(weights).reshape(1, S))[0]).data<float>().ToArray();
        for (var j = 0; j < expected.Length; j++) ((double)got[j]).ShouldBe(expected[j], 1e-5, $"value {j}");
    }

    private static float[] Floats(Random random, int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
}
