using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Llava;

/// <summary>
/// The formulas of the LLaVA family that are not a plain linear map: activations, RMSNorm, rotary position embedding
/// and grouped key/value heads (docs/llava-model.md gives each with its source).
/// </summary>
public static class LlavaOps
{
    private static readonly double TanhGeluScale = Math.Sqrt(2.0 / Math.PI);

    /// <summary>CLIP's quick-GELU: x·σ(1.702·x).</summary>
    // transformers commit 00e12e7c54598e50e7bef1540db3408f81916de1 src/transformers/activations.py
    // L68–L74 (QuickGELUActivation: x·sigmoid(1.702·x)), registered as ACT2FN["quick_gelu"] at L162.
    public static Tensor QuickGelu(Tensor x) => x * sigmoid(x * 1.702);

    /// <summary>The tanh approximation of GELU (SigLIP's <c>gelu_pytorch_tanh</c>): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
    // transformers commit 00e12e7c54598e50e7bef1540db3408f81916de1 src/transformers/activations.py
    // L27–L34 (NewGELUActivation: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))), registered as ACT2FN["gelu_new"] at L158. This
    // version has no "gelu_pytorch_tanh" entry (PyTorch's gelu with approximate="tanh", the same formula).
    public static Tensor TanhGelu(Tensor x) => 0.5 * x * (1.0 + tanh(TanhGeluScale * (x + 0.044715 * x.pow(3))));

    /// <summary>The exact GELU: x·Φ(x) = ½x(1 + erf(x/√2)) (the projector's <c>gelu</c>).</summary>
    // transformers commit 00e12e7c54598e50e7bef1540db3408f81916de1 src/transformers/activations.py
    // L37–L56 (GELUActivation: nn.functional.gelu, L50), registered as ACT2FN["gelu"] at L155.
    public static Tensor Gelu(Tensor x) => nn.functional.gelu(x);

    /// <summary>SiLU: x·σ(x) (the decoders' <c>silu</c>).</summary>
    // transformers commit 00e12e7c54598e50e7bef1540db3408f81916de1 src/transformers/activations.py
    // L102–L122 (SiLUActivation: nn.functional.silu, L116), registered as ACT2FN["silu"] at L165.
    public static Tensor Silu(Tensor x) => nn.functional.silu(x);

    /// <summary>The activation a config names: quick_gelu, gelu_pytorch_tanh (or gelu_new), gelu, silu.</summary>
    // transformers commit 00e12e7c54598e50e7bef1540db3408f81916de1 src/transformers/activations.py L154–L168 (ACT2FN, the name → activation table).
    public static Func<Tensor, Tensor> Activation(string name) => name switch
    {
        "quick_gelu" => QuickGelu,
        "gelu_pytorch_tanh" or "gelu_new" => TanhGelu,
        "gelu" => Gelu,
        "silu" => Silu,
        _ => throw new NotSupportedException($"activation '{name}' is not supported (quick_gelu, gelu_pytorch_tanh, gelu, silu)"),
    };

    /// <summary>
    /// RMSNorm as LLaMA and Qwen2 compute it: in float32, x / √(mean(x²) + ε), cast back to the input's dtype, then
    /// scaled by <paramref name="weight"/>.
    /// </summary>
    // transformers commit 002272831fba584eb30dca9729c1be456836960a src/transformers/models/llama/modeling_llama.py
    // L84–L89 (LlamaRMSNorm.forward): float32, x·rsqrt(mean(x²) + eps), back to the input dtype, times the weight.
    // transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py
    // L196–L201 (Qwen2RMSNorm.forward): the same computation; weight initialised to ones at L193.
    public static Tensor RmsNorm(Tensor x, Tensor weight, double eps)
    {
        using var scope = NewDisposeScope();
        var f = x.to_type(ScalarType.Float32);
        var normed = f * rsqrt(f.pow(2).mean([-1L], keepdim: true) + eps);
        return (weight * normed.to_type(x.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The rotary tables for <paramref name="positions"/> (int64, any shape S): cos and sin of the angles p·θ^(−2j/d),
    /// each frequency j &lt; d/2 written twice (at j and at j + d/2), in <paramref name="dtype"/>. Shape [S…, d].
    /// The angles are computed in float32 as the reference implementation does.
    /// </summary>
    // transformers commit 002272831fba584eb30dca9729c1be456836960a src/transformers/models/llama/modeling_llama.py
    // L102 (inv_freq = 1 / θ^(2j/d)) and L131–L144 (LlamaRotaryEmbedding.forward: angles in float32, cat(freqs, freqs)).
    // transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py
    // L289 (Qwen2RotaryEmbedding: inv_freq from ROPE_INIT_FUNCTIONS, defined in modeling_rope_utils.py) and L295–L306
    // (forward: angles in float32 L300–L301, cat(freqs, freqs) L302, cos and sin times attention_scaling, 1 for the
    // default rope, L303–L304, cast to the input dtype L306).
    public static (Tensor Cos, Tensor Sin) RopeTables(Tensor positions, int headDim, double theta, ScalarType dtype)
    {
        if (headDim % 2 != 0) throw new ArgumentException($"rotary embeddings need an even head width, not {headDim}", nameof(headDim));
        using var scope = NewDisposeScope();
        var exponent = arange(0, headDim, 2, ScalarType.Int64, positions.device).to_type(ScalarType.Float32) / headDim;   // [d/2]
        var inverse = full(exponent.shape, theta, ScalarType.Float32, positions.device).pow(exponent).reciprocal();     // θ^(−2j/d)
        var angles = positions.to_type(ScalarType.Float32).unsqueeze(-1) * inverse;                                     // [S…, d/2]
        var doubled = cat([angles, angles], -1);                                                                         // [S…, d]
        var cosine = doubled.cos().to_type(dtype);
        var sine = doubled.sin().to_type(dtype);
        return (cosine.MoveToOuterDisposeScope(), sine.MoveToOuterDisposeScope());
    }

    /// <summary>(x₁, x₂) → (−x₂, x₁) over the two halves of the last dimension.</summary>
    // transformers commit 002272831fba584eb30dca9729c1be456836960a src/transformers/models/llama/modeling_llama.py L176–L180.
    // transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py L50–L54 (rotate_half).
    public static Tensor RotateHalf(Tensor x)
    {
        var half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }

    /// <summary>
    /// Rotates <paramref name="x"/> [B, H, L, d] by the tables [B or 1, L, d]: x·cos + rotate_half(x)·sin, so dimension
    /// j and j + d/2 turn together by the angle of frequency j.
    /// </summary>
    // transformers commit 002272831fba584eb30dca9729c1be456836960a src/transformers/models/llama/modeling_llama.py
    // L203–L207 (apply_rotary_pos_emb): x·cos + rotate_half(x)·sin.
    // transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py
    // L57–L81 (apply_rotary_pos_emb: cos and sin unsqueezed at dim 1 L77–L78, x·cos + rotate_half(x)·sin L79–L80).
    public static Tensor ApplyRope(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        return (x * cos.unsqueeze(1) + RotateHalf(x) * sin.unsqueeze(1)).MoveToOuterDisposeScope();
    }

    /// <summary>Grouped key/value heads [B, KV, L, d] repeated to the query heads [B, KV·n, L, d]: query head h reads KV head h / n.</summary>
    // transformers commit 002272831fba584eb30dca9729c1be456836960a src/transformers/models/llama/modeling_llama.py L244–L253 (repeat_kv).
    // transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py L84–L93 (repeat_kv).
    public static Tensor RepeatKv(Tensor x, int times) => times == 1 ? x.alias() : x.repeat_interleave(times, 1);
}
