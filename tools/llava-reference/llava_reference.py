#!/usr/bin/python3
"""A second, independent LLaVA forward pass in plain PyTorch, for checking the TorchSharp model.

Runs with Debian 12's /usr/bin/python3 and python3-torch (1.13): no transformers, no safetensors package. It reads a
Hugging Face LLaVA folder (config.json, model.safetensors or a sharded model.safetensors.index.json, either key
layout, F32/F16/BF16), computes in float64, and writes the logits for the given input ids and pixel values.

    llava_reference.py CHECKPOINT_FOLDER INPUTS.safetensors OUT.safetensors

INPUTS holds input_ids (I64 [B, L], each image already expanded to its vision tokens of image_token_index, rows right-
padded) and, when any row has an image, pixel_values (F32 [n, 3, S, S], one per row with image tokens, in row order).
OUT receives logits (F64 [B, L, V]). The formulas are written from the modeling code of transformers (modeling_llava,
modeling_clip, modeling_siglip, modeling_llama, modeling_qwen2) as docs/llava.md describes them.
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        if end > begin:
            flat = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=dtype)
        else:
            flat = torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


# modeling_llava.LlavaForConditionalGeneration._checkpoint_conversion_mapping, read backwards: the newer layout
# (transformers >= 4.52) onto the llava-1.5 one.
NEWER = [("model.language_model.", "language_model.model."), ("model.vision_tower.", "vision_tower."),
         ("model.multi_modal_projector.", "multi_modal_projector."), ("lm_head.", "language_model.lm_head.")]


def canonical(key):
    for new, old in NEWER:
        if key.startswith(new):
            return old + key[len(new):]
    return key


def read_weights(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for name in files:
        for key, t in read_safetensors(os.path.join(folder, name)).items():
            weights[canonical(key)] = t.to(torch.float64)
    return weights


def read_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    v = dict(c.get("vision_config") or {})
    t = dict(c.get("text_config") or {})
    vkind = v.get("model_type", "clip_vision_model")
    tkind = t.get("model_type", "llama")
    clip = vkind == "clip_vision_model"
    llama = tkind == "llama"
    heads = t.get("num_attention_heads", 32)
    kv = t.get("num_key_value_heads", heads if llama else 32)
    rope = t.get("rope_parameters") or {}
    return {
        "clip": clip,
        "v_hidden": v.get("hidden_size", 768), "v_layers": v.get("num_hidden_layers", 12),
        "v_heads": v.get("num_attention_heads", 12), "patch": v.get("patch_size", 32 if clip else 16),
        "v_eps": v.get("layer_norm_eps", 1e-5 if clip else 1e-6),
        "v_act": v.get("hidden_act", "quick_gelu" if clip else "gelu_pytorch_tanh"),
        "llama": llama, "hidden": t.get("hidden_size", 4096), "layers": t.get("num_hidden_layers", 32),
        "heads": heads, "kv_heads": kv if kv is not None else heads, "eps": t.get("rms_norm_eps", 1e-6),
        "theta": rope.get("rope_theta", t.get("rope_theta", 10000.0)),
        "attention_bias": t.get("attention_bias", False) if llama else True,
        "tie": bool(c.get("tie_word_embeddings", False) or t.get("tie_word_embeddings", False)),
        "image_token": c.get("image_token_index", c.get("image_token_id", 32000)),
        "feature_layer": c.get("vision_feature_layer", -2),
        "strategy": c.get("vision_feature_select_strategy", "default"),
    }


# activations.py: QuickGELUActivation, PytorchGELUTanh, GELUActivation (erf), SiLU.
def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def silu(x):
    return x * torch.sigmoid(x)


def linear(x, w, b=None):
    y = x @ w.transpose(0, 1)
    return y if b is None else y + b


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def vision_features(c, W, pixels):
    p = "vision_tower.vision_model."
    d, heads, P = c["v_hidden"], c["v_heads"], c["patch"]
    hd = d // heads
    act = quick_gelu if c["v_act"] == "quick_gelu" else gelu_tanh
    n = pixels.shape[0]
    # CLIPVisionEmbeddings / SiglipVisionEmbeddings: a stride-P convolution, patches row-major, the class token first (CLIP).
    x = torch.nn.functional.conv2d(pixels, W[p + "embeddings.patch_embedding.weight"],
                                   W.get(p + "embeddings.patch_embedding.bias"), stride=P)
    x = x.flatten(2).transpose(1, 2)
    if c["clip"]:
        x = torch.cat([W[p + "embeddings.class_embedding"].expand(n, 1, d), x], dim=1)
    x = x + W[p + "embeddings.position_embedding.weight"].unsqueeze(0)
    if c["clip"]:
        x = layer_norm(x, W[p + "pre_layrnorm.weight"], W[p + "pre_layrnorm.bias"], c["v_eps"])
    hidden_states = [x]
    t = x.shape[1]
    for i in range(c["v_layers"]):
        q = f"{p}encoder.layers.{i}."
        h = layer_norm(x, W[q + "layer_norm1.weight"], W[q + "layer_norm1.bias"], c["v_eps"])

        def proj(name):
            return linear(h, W[q + f"self_attn.{name}.weight"], W[q + f"self_attn.{name}.bias"]).reshape(n, t, heads, hd).transpose(1, 2)

        qs, ks, vs = proj("q_proj"), proj("k_proj"), proj("v_proj")
        probs = torch.softmax(qs @ ks.transpose(-1, -2) * hd ** -0.5, dim=-1)
        o = (probs @ vs).transpose(1, 2).reshape(n, t, d)
        x = x + linear(o, W[q + "self_attn.out_proj.weight"], W[q + "self_attn.out_proj.bias"])
        h = layer_norm(x, W[q + "layer_norm2.weight"], W[q + "layer_norm2.bias"], c["v_eps"])
        h = linear(act(linear(h, W[q + "mlp.fc1.weight"], W[q + "mlp.fc1.bias"])), W[q + "mlp.fc2.weight"], W[q + "mlp.fc2.bias"])
        x = x + h
        hidden_states.append(x)
    # LlavaModel.get_image_features: hidden_states[vision_feature_layer], class token dropped for "default".
    feats = hidden_states[c["feature_layer"]]
    if c["strategy"] == "default":
        feats = feats[:, 1:]
    m = "multi_modal_projector."
    feats = gelu_erf(linear(feats, W[m + "linear_1.weight"], W.get(m + "linear_1.bias")))
    return linear(feats, W[m + "linear_2.weight"], W.get(m + "linear_2.bias"))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def logits(c, W, ids, pixels):
    lm = "language_model.model."
    b, length = ids.shape
    d, heads, kv = c["hidden"], c["heads"], c["kv_heads"]
    hd = d // heads
    x = W[lm + "embed_tokens.weight"][ids]
    mask = ids == c["image_token"]
    if pixels is not None and bool(mask.any()):
        feats = vision_features(c, W, pixels)
        # LlavaModel.forward: masked_scatter fills the image positions row-major with the features in order.
        x[mask] = feats.reshape(-1, d)
    # LlamaRotaryEmbedding (default rope): inv_freq = 1 / theta^(2i/hd); cos/sin of positions × inv_freq, repeated twice.
    inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.full((length, length), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(c["layers"]):
        q = f"{lm}layers.{i}."
        h = rms_norm(x, W[q + "input_layernorm.weight"], c["eps"])

        def proj(name, n):
            return linear(h, W[q + f"self_attn.{name}.weight"], W.get(q + f"self_attn.{name}.bias")).reshape(b, length, n, hd).transpose(1, 2)

        qs, ks, vs = proj("q_proj", heads), proj("k_proj", kv), proj("v_proj", kv)
        qs = qs * cos + rotate_half(qs) * sin
        ks = ks * cos + rotate_half(ks) * sin
        # repeat_kv: query head j reads key/value head j // (heads / kv).
        ks = ks.repeat_interleave(heads // kv, dim=1)
        vs = vs.repeat_interleave(heads // kv, dim=1)
        probs = torch.softmax(qs @ ks.transpose(-1, -2) / math.sqrt(hd) + causal, dim=-1)
        o = (probs @ vs).transpose(1, 2).reshape(b, length, heads * hd)
        x = x + linear(o, W[q + "self_attn.o_proj.weight"], W.get(q + "self_attn.o_proj.bias"))
        h = rms_norm(x, W[q + "post_attention_layernorm.weight"], c["eps"])
        x = x + linear(silu(linear(h, W[q + "mlp.gate_proj.weight"])) * linear(h, W[q + "mlp.up_proj.weight"]), W[q + "mlp.down_proj.weight"])
    x = rms_norm(x, W[lm + "norm.weight"], c["eps"])
    head = W[lm + "embed_tokens.weight"] if c["tie"] else W["language_model.lm_head.weight"]
    return x @ head.transpose(0, 1)


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    folder, inputs_path, out_path = argv[1:]
    c = read_config(folder)
    W = read_weights(folder)
    inputs = read_safetensors(inputs_path)
    pixels = inputs.get("pixel_values")
    with torch.no_grad():
        out = logits(c, W, inputs["input_ids"].to(torch.int64), None if pixels is None else pixels.to(torch.float64))
    write_safetensors(out_path, {"logits": out.to(torch.float64)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
