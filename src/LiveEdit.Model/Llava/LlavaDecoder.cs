using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Llava;

// Field names are the checkpoint's (see LlavaVisionTower.cs): the parameters of these modules are named exactly as the
// Hugging Face keys under `language_model.`.

/// <summary><c>language_model</c>: the decoder (<c>model</c>) and the LM head (<c>lm_head</c>, absent when tied to the embedding).</summary>
internal sealed class LlavaLanguageModel : nn.Module
{
    private readonly LlavaDecoder model;
    private readonly Linear? lm_head;

    public LlavaLanguageModel(LlavaTextConfig config, Device device, ScalarType dtype) : base("language_model")
    {
        model = new LlavaDecoder(config, device, dtype);
        if (!config.TieWordEmbeddings) lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    public LlavaDecoder Decoder => model;

    /// <summary>Final norm and the LM head: [.., H] → [.., V] in the model's dtype.</summary>
    public Tensor Head(Tensor h)
    {
        using var scope = NewDisposeScope();
        var normed = model.Norm(h);
        var logits = lm_head is null ? nn.functional.linear(normed, model.EmbeddingWeight) : lm_head.forward(normed);
        return logits.MoveToOuterDisposeScope();
    }
}

// transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py
// L316–L320 (Qwen2Model.__init__: embed_tokens, layers, norm).
/// <summary><c>model</c>: token embedding, decoder layers, final RMSNorm.</summary>
internal sealed class LlavaDecoder : nn.Module
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<DecoderLayer> layers;
    private readonly RmsNorm norm;

    public LlavaDecoder(LlavaTextConfig config, Device device, ScalarType dtype) : base("model")
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize, device: device, dtype: dtype);
        layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new DecoderLayer(config, device, dtype)).ToArray());
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    public Tensor Embed(Tensor ids) => embed_tokens.forward(ids);

    public Tensor EmbeddingWeight => embed_tokens.weight!;

    public DecoderLayer Layer(int i) => layers[i];

    public Tensor Norm(Tensor h) => norm.forward(h);
}

// transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py L186–L194 (Qwen2RMSNorm: weight of ones, variance_epsilon).
/// <summary>RMSNorm with its <c>weight</c> (<see cref="LlavaOps.RmsNorm"/>).</summary>
internal sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    public RmsNorm(int size, double eps, Device device, ScalarType dtype) : base("norm")
    {
        weight = nn.Parameter(ones(size, dtype: dtype, device: device));
        this.eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => LlavaOps.RmsNorm(x, weight, eps);
}

// transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py
// L207–L217 (Qwen2DecoderLayer.__init__: self_attn, mlp, input_layernorm, post_attention_layernorm) and L231–L251
// (forward: x + Attn(RMS(x)) L231–L244, then x + MLP(RMS(x)) L247–L250).
/// <summary>
/// One LLaMA / Qwen2 layer: x + Attn(RMS(x)), then x + MLP(RMS(x)); causal attention with rotary positions and grouped
/// key/value heads, the SwiGLU MLP down(silu(gate(x)) ⊙ up(x)).
/// </summary>
internal sealed class DecoderLayer : nn.Module
{
    private readonly DecoderAttention self_attn;
    private readonly DecoderMlp mlp;
    private readonly RmsNorm input_layernorm, post_attention_layernorm;

    public DecoderLayer(LlavaTextConfig config, Device device, ScalarType dtype) : base("layer")
    {
        self_attn = new DecoderAttention(config, device, dtype);
        mlp = new DecoderMlp(config, device, dtype);
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device, dtype);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    /// <summary>
    /// Causal forward over a whole sequence x [B, L, H] with rotary tables [1, L, hd]; with a cache, also writes each
    /// position's keys and values into slots [0, L) of <paramref name="keys"/> and <paramref name="values"/> [B, KV, C, hd].
    /// </summary>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? keys = null, Tensor? values = null)
    {
        using var scope = NewDisposeScope();
        x = x + self_attn.Full(input_layernorm.forward(x), cos, sin, keys, values);
        x = x + mlp.forward(post_attention_layernorm.forward(x));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One new position per row, x [B, 1, H] with rotary tables [B, 1, hd]: writes its key and value at
    /// <paramref name="slots"/> ([B, KV, 1, hd] int64) and attends over the cached slots <paramref name="visible"/>
    /// ([B, 1, 1, C] bool) allows.
    /// </summary>
    public Tensor Step(Tensor x, Tensor cos, Tensor sin, Tensor keys, Tensor values, Tensor slots, Tensor visible)
    {
        using var scope = NewDisposeScope();
        x = x + self_attn.Step(input_layernorm.forward(x), cos, sin, keys, values, slots, visible);
        x = x + mlp.forward(post_attention_layernorm.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary><c>self_attn</c>: q (H heads), k and v (KV heads, biases for Qwen2), RoPE on q and k, o without bias.</summary>
internal sealed class DecoderAttention : nn.Module
{
    private readonly Linear q_proj, k_proj, v_proj, o_proj;
    private readonly int heads, kvHeads, headDim;

    public DecoderAttention(LlavaTextConfig config, Device device, ScalarType dtype) : base("self_attn")
    {
        heads = config.Heads;
        kvHeads = config.KeyValueHeads;
        headDim = config.HeadDim;
        var bias = config.AttentionBias || config.Kind == DecoderKind.Qwen2;
        // transformers commit 002272831fba584eb30dca9729c1be456836960a src/transformers/models/llama/modeling_llama.py
        // L273 (head_dim = hidden / heads) and L286–L289: q [heads·hd], k, v [kv heads·hd], o, biases when attention_bias
        // (Qwen2 always biases q, k, v and never o).
        // transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py
        // L129 (head_dim = hidden / heads unless head_dim is given), L134–L136 (q, k, v with bias=True) and L137 (o_proj
        // with bias=False); heads split at L153–L155, rotary on q and k at L157–L158, merged heads through o_proj L181–L182.
        q_proj = nn.Linear(config.HiddenSize, heads * headDim, hasBias: bias, device: device, dtype: dtype);
        k_proj = nn.Linear(config.HiddenSize, kvHeads * headDim, hasBias: bias, device: device, dtype: dtype);
        v_proj = nn.Linear(config.HiddenSize, kvHeads * headDim, hasBias: bias, device: device, dtype: dtype);
        o_proj = nn.Linear(heads * headDim, config.HiddenSize, hasBias: config.AttentionBias && config.Kind == DecoderKind.Llama, device: device, dtype: dtype);
        RegisterComponents();
    }

    private (Tensor Q, Tensor K, Tensor V) Project(Tensor x, Tensor cos, Tensor sin)
    {
        var (b, l) = (x.shape[0], x.shape[1]);
        var q = q_proj.forward(x).view(b, l, heads, headDim).transpose(1, 2);         // [B, H, L, hd]
        var k = k_proj.forward(x).view(b, l, kvHeads, headDim).transpose(1, 2);       // [B, KV, L, hd]
        var v = v_proj.forward(x).view(b, l, kvHeads, headDim).transpose(1, 2);
        return (LlavaOps.ApplyRope(q, cos, sin), LlavaOps.ApplyRope(k, cos, sin), v);
    }

    public Tensor Full(Tensor x, Tensor cos, Tensor sin, Tensor? keys, Tensor? values)
    {
        using var scope = NewDisposeScope();
        var (b, l) = (x.shape[0], x.shape[1]);
        var (q, k, v) = Project(x, cos, sin);
        if (keys is not null && values is not null)
        {
            keys.narrow(2, 0, l).copy_(k);
            values.narrow(2, 0, l).copy_(v);
        }
        var repeat = heads / kvHeads;
        var attended = nn.functional.scaled_dot_product_attention(q, LlavaOps.RepeatKv(k, repeat), LlavaOps.RepeatKv(v, repeat), is_casual: true);
        return o_proj.forward(attended.transpose(1, 2).reshape(b, l, heads * headDim)).MoveToOuterDisposeScope();
    }

    public Tensor Step(Tensor x, Tensor cos, Tensor sin, Tensor keys, Tensor values, Tensor slots, Tensor visible)
    {
        using var scope = NewDisposeScope();
        var b = x.shape[0];
        var (q, k, v) = Project(x, cos, sin);                                           // q [B, H, 1, hd], k, v [B, KV, 1, hd]
        keys.scatter_(2, slots, k);
        values.scatter_(2, slots, v);
        // One query per head: the H / KV query heads that share a KV head become that head's H / KV query rows, so the
        // cache is read as stored, never copied to the query heads. The mask is the same for every row of a sequence.
        var grouped = q.reshape(b, kvHeads, heads / kvHeads, headDim);                     // [B, KV, H/KV, hd]
        var attended = nn.functional.scaled_dot_product_attention(grouped, keys, values, attn_mask: visible);   // [B, KV, H/KV, hd]
        return o_proj.forward(attended.reshape(b, 1, heads * headDim)).MoveToOuterDisposeScope();
    }
}

/// <summary><c>mlp</c>: SwiGLU, down_proj(silu(gate_proj(x)) ⊙ up_proj(x)), no biases.</summary>
internal sealed class DecoderMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj, up_proj, down_proj;

    public DecoderMlp(LlavaTextConfig config, Device device, ScalarType dtype) : base("mlp")
    {
        if (config.HiddenAct != "silu") throw new NotSupportedException($"text_config.hidden_act '{config.HiddenAct}' is not supported (silu)");
        // transformers commit 002272831fba584eb30dca9729c1be456836960a src/transformers/models/llama/modeling_llama.py
        // L216–L219 (gate, up, down without bias; act_fn = ACT2FN[hidden_act]) and L239: down(act(gate(x)) · up(x)).
        // transformers commit 63bb723747035466e5339aea864b133f709b067d src/transformers/models/qwen2/modeling_qwen2.py
        // L40–L43 (Qwen2MLP: gate, up, down without bias; act_fn = ACT2FN[hidden_act]) and L46: down(act(gate(x)) · up(x)).
        gate_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        up_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: false, device: device, dtype: dtype);
        down_proj = nn.Linear(config.IntermediateSize, config.HiddenSize, hasBias: false, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return down_proj.forward(LlavaOps.Silu(gate_proj.forward(x)) * up_proj.forward(x)).MoveToOuterDisposeScope();
    }
}
