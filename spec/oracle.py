"""An independent, forward-only NumPy oracle for the model contracts (M2 nn, M3 attention, M4 GPT).

Written plainly and separately from any implementation (it never imports numgpt): every
function computes in float64 straight from the textbook formula, with explicit loops over
batch and heads where that makes the math easier to read. Speed does not matter here; the spec
only feeds it tiny inputs.

Conventions (the same ones the adapter contracts state):

* Linear weights have layout ``(in_features, out_features)``: ``y = x @ W + b`` (GPT-2's Conv1D
  layout).
* ``c_attn`` projects ``n_embd -> 3 * n_embd``; its output holds q, k, v in that order along the
  last dim, and within each of them head ``h`` owns the contiguous columns
  ``[h * hs, (h + 1) * hs)`` with ``hs = n_embd // n_head``.
* GELU is GPT-2's tanh approximation.
* Attention: scores scaled by ``1 / sqrt(hs)``; ``mask`` is boolean, True = may attend; causal
  query ``i`` of ``Tq`` sits at absolute position ``Tk - Tq + i`` and sees keys ``<=`` it. A query
  row whose every key is masked has no keys to average: its output is defined as all zeros.
* The GPT is pre-LayerNorm with learned position embeddings and an ``lm_head`` tied to the token
  embedding (``logits = x @ wte.T``); parameter names are GPT-2's.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

LN_EPS = 1e-5
GELU_C = math.sqrt(2.0 / math.pi)

# The tolerances for comparing an implementation with this oracle live in spec/numerics.py
# (OP_RTOL/OP_ATOL, MODEL_RTOL/MODEL_ATOL).


def f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# ----------------------------------------------------------------------------- M2: layers


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """x (..., in) @ w (in, out) + b (out,)."""
    y = f64(x) @ f64(w)
    return y if b is None else y + f64(b)


def layer_norm(x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float = LN_EPS) -> np.ndarray:
    """Normalise over the last dim with the BIASED variance (divide by C, not C - 1)."""
    x = f64(x)
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        y = y * f64(w)
    if b is not None:
        y = y + f64(b)
    return y


def embedding(ids: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row lookup: out[..., :] = w[ids[...], :]."""
    return f64(w)[np.asarray(ids)]


def gelu(x: np.ndarray) -> np.ndarray:
    """GPT-2's GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = f64(x)
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x ** 3)))


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """The exact GELU x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): NOT the contract (GPT-2 uses the tanh
    form); the spec uses it only to recognise an erf GELU and say so in a failure's hint."""
    x = f64(x)
    return 0.5 * x * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2.0)))


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = f64(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.exp(log_softmax(x, axis))


def cross_entropy(logits: np.ndarray, targets: np.ndarray, ignore_index: int = -1) -> float:
    """Mean over the positions whose target != ignore_index of -log softmax(logits)[target]."""
    logp = log_softmax(logits, axis=-1).reshape(-1, np.shape(logits)[-1])
    t = np.asarray(targets).reshape(-1)
    losses = [-logp[n, t[n]] for n in range(len(t)) if t[n] != ignore_index]
    return float(np.mean(losses))


def dropout_kept_fraction_bound(p: float, n: int, sigmas: float) -> float:
    """Half-width of the acceptance band for the kept fraction of ``n`` Bernoulli(1 - p) draws:
    ``sigmas`` binomial standard deviations, sqrt(p (1 - p) / n)."""
    return sigmas * math.sqrt(p * (1.0 - p) / n)


# ----------------------------------------------------------------------------- M3: attention


def causal_mask(tq: int, tk: int) -> np.ndarray:
    """Bool (tq, tk): query i (absolute position tk - tq + i) may attend to keys j <= that position."""
    pos = tk - tq + np.arange(tq)[:, None]
    return np.arange(tk)[None, :] <= pos


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False,
              mask: np.ndarray | None = None) -> np.ndarray:
    """softmax(q k^T / sqrt(hs) + masked(-inf)) v over any leading dims, one query row at a time.

    q (..., Tq, hs), k (..., Tk, hs), v (..., Tk, hv); mask bool broadcastable to (..., Tq, Tk).
    A fully masked query row gets the output 0.
    """
    q, k, v = f64(q), f64(k), f64(v)
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    tq, hs = q.shape[-2:]
    tk = k.shape[-2]
    allowed = np.ones((tq, tk), dtype=bool)
    if causal:
        allowed = allowed & causal_mask(tq, tk)
    allowed = np.broadcast_to(allowed if mask is None else allowed & np.asarray(mask, dtype=bool),
                              lead + (tq, tk))
    q = np.broadcast_to(q, lead + q.shape[-2:])
    k = np.broadcast_to(k, lead + k.shape[-2:])
    v = np.broadcast_to(v, lead + v.shape[-2:])
    out = np.zeros(lead + (tq, v.shape[-1]))
    for b in np.ndindex(*lead):
        for i in range(tq):
            keys = np.flatnonzero(allowed[b][i])
            if len(keys) == 0:
                continue  # nothing to attend to: output stays 0
            scores = np.array([q[b][i] @ k[b][j] for j in keys]) / math.sqrt(hs)
            weights = np.exp(scores - scores.max())
            weights /= weights.sum()
            out[b][i] = sum(wj * v[b][j] for wj, j in zip(weights, keys))
    return out


def causal_self_attention(x: np.ndarray, n_head: int, c_attn_w: np.ndarray, c_attn_b: np.ndarray | None,
                          c_proj_w: np.ndarray, c_proj_b: np.ndarray | None) -> np.ndarray:
    """Multi-head causal self-attention of x (B, T, C) with GPT-2's combined qkv projection."""
    x = f64(x)
    B, T, C = x.shape
    hs = C // n_head
    qkv = linear(x, c_attn_w, c_attn_b)  # (B, T, 3C)
    q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
    y = np.zeros((B, T, C))
    for h in range(n_head):
        cols = slice(h * hs, (h + 1) * hs)
        y[..., cols] = attention(q[..., cols], k[..., cols], v[..., cols], causal=True)  # (B, T, hs)
    return linear(y, c_proj_w, c_proj_b)


# ----------------------------------------------------------------------------- M4: GPT


BLOCK_KEYS = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
              "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
              "mlp.c_proj.weight", "mlp.c_proj.bias")


def block(x: np.ndarray, n_head: int, p: dict[str, np.ndarray], post_ln: bool = False, act=gelu) -> np.ndarray:
    """Pre-LN transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)). Bias keys may be absent.

    ``post_ln`` (GPT-1's ln(x + attn(x))) and ``act`` (e.g. ``gelu_erf``) are NOT the contract: the
    spec uses those variants only to recognise a known mistake and name it in a failure's hint."""
    x = f64(x)
    attn = lambda h: causal_self_attention(h, n_head, p["attn.c_attn.weight"], p.get("attn.c_attn.bias"),  # noqa: E731
                                           p["attn.c_proj.weight"], p.get("attn.c_proj.bias"))
    mlp = lambda h: linear(act(linear(h, p["mlp.c_fc.weight"], p.get("mlp.c_fc.bias"))),  # noqa: E731
                           p["mlp.c_proj.weight"], p.get("mlp.c_proj.bias"))
    if post_ln:
        x = layer_norm(x + attn(x), p["ln_1.weight"], p.get("ln_1.bias"))
        return layer_norm(x + mlp(x), p["ln_2.weight"], p.get("ln_2.bias"))
    x = x + attn(layer_norm(x, p["ln_1.weight"], p.get("ln_1.bias")))
    return x + mlp(layer_norm(x, p["ln_2.weight"], p.get("ln_2.bias")))


def gpt_param_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every parameter of a GPT-2-style model, by GPT-2 name, with its shape ((in, out) for Linear).
    With ``bias=False`` the bias entries (Linear and LayerNorm) are absent."""
    C, V, L = config["n_embd"], config["vocab_size"], config["n_layer"]
    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (config["block_size"], C)}
    per_block = {"ln_1.weight": (C,), "ln_1.bias": (C,), "attn.c_attn.weight": (C, 3 * C),
                 "attn.c_attn.bias": (3 * C,), "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,),
                 "ln_2.weight": (C,), "ln_2.bias": (C,), "mlp.c_fc.weight": (C, 4 * C), "mlp.c_fc.bias": (4 * C,),
                 "mlp.c_proj.weight": (4 * C, C), "mlp.c_proj.bias": (C,)}
    for i in range(L):
        for key, shape in per_block.items():
            shapes[f"transformer.h.{i}.{key}"] = shape
    shapes["transformer.ln_f.weight"] = (C,)
    shapes["transformer.ln_f.bias"] = (C,)
    if not config.get("bias", True):
        shapes = {name: s for name, s in shapes.items() if not name.endswith(".bias")}
    return shapes


def random_gpt_state(config: dict, seed: int, scale: float = 0.3) -> dict[str, np.ndarray]:
    """A float64 state dict with non-trivial values everywhere (weights N(0, scale^2), LayerNorm
    weights near 1, biases small but non-zero), so every parameter visibly shapes the output."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in gpt_param_shapes(config).items():
        if ".ln_" in name and name.endswith(".weight"):
            state[name] = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith(".bias"):
            state[name] = 0.1 * rng.standard_normal(shape)
        else:
            state[name] = scale * rng.standard_normal(shape)
    return state


def gpt_forward(config: dict, state: dict[str, np.ndarray], idx: np.ndarray,
                targets: np.ndarray | None = None, ignore_index: int = -1, *, post_ln: bool = False, act=gelu,
                positions: bool = True, final_ln: bool = True) -> tuple[np.ndarray, float | None]:
    """Logits (B, T, V) and the mean cross-entropy (or None) of a GPT-2-named state dict.

    The keyword-only switches (post-LN blocks, another activation, no position embeddings, no
    ln_f) are NOT the contract: they build the outputs of known mistakes, so that a failure's
    hint names the mistake only when the implementation's output matches it."""
    idx = np.asarray(idx)
    B, T = idx.shape
    wte = f64(state["transformer.wte.weight"])
    x = embedding(idx, wte)  # (B, T, C)
    if positions:
        x = x + f64(state["transformer.wpe.weight"])[np.arange(T)]
    for i in range(config["n_layer"]):
        prefix = f"transformer.h.{i}."
        x = block(x, config["n_head"], {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)},
                  post_ln=post_ln, act=act)
    if final_ln:
        x = layer_norm(x, state["transformer.ln_f.weight"], state.get("transformer.ln_f.bias"))
    logits = x @ wte.T  # tied lm_head, (B, T, V)
    loss = None if targets is None else cross_entropy(logits, targets, ignore_index)
    return logits, loss


def gpt_train_flops(config: dict, n_params: int, batch: int, T: int) -> float:
    """Approximate FLOPs of one forward + backward pass: 6 N per token for the weight matmuls
    plus 12 L T C per token for attention (the PaLM / nanoGPT estimate)."""
    tokens = batch * T
    return 6.0 * n_params * tokens + 12.0 * config["n_layer"] * T * config["n_embd"] * tokens


# ----------------------------------------------------------------------------- M8: modern blocks
# Llama conventions (the M8 contracts): Linear weights in Hugging Face's (out_features, in_features)
# layout, y = x @ W.T; RMSNorm's eps inside the root; SwiGLU w2(silu(w1 x) * w3 x); RoPE pairs
# (x[2i], x[2i+1]) (Meta's interleaved layout) rotated by pos * theta^(-2i/hs); query head h reads kv
# head h // (n_head // n_kv_head).

RMS_EPS = 1e-5


def rms_norm(x: np.ndarray, w: np.ndarray | None, eps: float = RMS_EPS) -> np.ndarray:
    """x / sqrt(mean(x^2) + eps) * w over the last dim (eps INSIDE the root)."""
    x = f64(x)
    y = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return y if w is None else y * f64(w)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = f64(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x)."""
    return f64(x) * sigmoid(x)


def swiglu(x: np.ndarray, w1: np.ndarray, w3: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """w2(silu(w1 x) * w3 x) with HF weights: w1 = gate_proj (H, C), w3 = up_proj (H, C), w2 = down_proj (C, H)."""
    x = f64(x)
    return (silu(x @ f64(w1).T) * (x @ f64(w3).T)) @ f64(w2).T


def swiglu_hidden(n_embd: int, ffn_hidden: int | None = None) -> int:
    """The SwiGLU hidden size: ffn_hidden if given, else 2/3 of 4 * n_embd rounded UP to a multiple of 32."""
    return ffn_hidden if ffn_hidden else 32 * math.ceil(2 * 4 * n_embd / 3 / 32)


def rope(x: np.ndarray, positions: np.ndarray, theta: float = 10000.0) -> np.ndarray:
    """Rotary embedding of x (..., T, hs) at integer ``positions`` (T,), as complex multiplication:
    the pair (x[2i], x[2i+1]) is the complex number x[2i] + i x[2i+1], multiplied by
    exp(i * pos * theta^(-2i/hs))."""
    x = f64(x)
    hs = x.shape[-1]
    freqs = theta ** (-np.arange(0, hs, 2) / hs)  # (hs/2,)
    z = x[..., 0::2] + 1j * x[..., 1::2]
    z = z * np.exp(1j * np.asarray(positions, dtype=np.float64)[:, None] * freqs[None, :])  # (..., T, hs/2)
    out = np.empty_like(x)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


def rope_rotate_half(x: np.ndarray, positions: np.ndarray, theta: float = 10000.0) -> np.ndarray:
    """Hugging Face's layout: the pair (x[i], x[i + hs/2]) is rotated by the angle of frequency i. NOT the
    contract's pairing; a q/k projection whose rows are permuted to HF's layout gives the same scores."""
    x = f64(x)
    half = x.shape[-1] // 2
    perm = np.stack([np.arange(half), np.arange(half) + half], axis=-1).reshape(-1)  # HF -> interleaved
    out = np.empty_like(x)
    out[..., perm] = rope(x[..., perm], positions, theta)
    return out


def hf_rows_to_interleaved(w: np.ndarray, n_heads: int) -> np.ndarray:
    """A q_proj/k_proj weight (n_heads * hs, C) in HF's rotate_half row order, reordered so that the
    interleaved RoPE gives the same attention scores: within each head, row i and row i + hs/2 become
    rows 2i and 2i + 1."""
    w = f64(w)
    hs = w.shape[0] // n_heads
    half = np.arange(hs // 2)
    perm = np.stack([half, half + hs // 2], axis=-1).reshape(-1)
    return w.reshape(n_heads, hs, -1)[:, perm].reshape(w.shape)


def grouped_query_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = True) -> np.ndarray:
    """q (B, nh, Tq, hs), k and v (B, nkv, Tk, hs): query head h attends with kv head h // (nh // nkv),
    i.e. multi-head attention over k and v with each kv head repeated nh // nkv times in place."""
    nh, nkv = q.shape[1], k.shape[1]
    heads = np.arange(nh) // (nh // nkv)
    return attention(q, f64(k)[:, heads], f64(v)[:, heads], causal=causal)


def llama_self_attention(x: np.ndarray, n_head: int, n_kv_head: int, wq: np.ndarray, wk: np.ndarray,
                         wv: np.ndarray, wo: np.ndarray, theta: float = 10000.0, positions: np.ndarray | None = None,
                         rotate_v: bool = False) -> np.ndarray:
    """Llama attention of x (B, T, C): q = x wq^T (heads of hs = C // n_head), k = x wk^T, v = x wv^T
    (n_kv_head heads), RoPE on q and k at ``positions`` (default 0..T-1), causal GQA, o_proj.
    ``rotate_v`` (RoPE applied to v too) is NOT the contract: it builds a known mistake for a hint."""
    x = f64(x)
    B, T, C = x.shape
    hs = C // n_head
    pos = np.arange(T) if positions is None else np.asarray(positions)
    split = lambda y, h: y.reshape(B, T, h, hs).transpose(0, 2, 1, 3)  # noqa: E731
    q = rope(split(x @ f64(wq).T, n_head), pos, theta)
    k = rope(split(x @ f64(wk).T, n_kv_head), pos, theta)
    v = split(x @ f64(wv).T, n_kv_head)
    if rotate_v:
        v = rope(v, pos, theta)
    y = grouped_query_attention(q, k, v, causal=True)  # (B, nh, T, hs)
    return y.transpose(0, 2, 1, 3).reshape(B, T, n_head * hs) @ f64(wo).T


LLAMA_BLOCK_KEYS = ("input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight")


def llama_block(x: np.ndarray, n_head: int, n_kv_head: int, p: dict[str, np.ndarray], theta: float = 10000.0,
                eps: float = RMS_EPS, **mistakes: Any) -> np.ndarray:
    """Pre-RMSNorm Llama block: h = x + attn(rms(x)), out = h + swiglu(rms(h)); block-relative HF names."""
    x = f64(x)
    h = x + llama_self_attention(rms_norm(x, p["input_layernorm.weight"], eps), n_head, n_kv_head,
                                 p["self_attn.q_proj.weight"], p["self_attn.k_proj.weight"],
                                 p["self_attn.v_proj.weight"], p["self_attn.o_proj.weight"], theta, **mistakes)
    return h + swiglu(rms_norm(h, p["post_attention_layernorm.weight"], eps), p["mlp.gate_proj.weight"],
                      p["mlp.up_proj.weight"], p["mlp.down_proj.weight"])


def llama_param_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every parameter of a Llama-style model by Hugging Face name, (out, in) for Linear weights; no biases,
    an untied lm_head."""
    C, V, L, nh = config["n_embd"], config["vocab_size"], config["n_layer"], config["n_head"]
    nkv = config.get("n_kv_head") or nh
    kv = nkv * (C // nh)
    H = swiglu_hidden(C, config.get("ffn_hidden"))
    shapes = {"model.embed_tokens.weight": (V, C)}
    per_block = {"input_layernorm.weight": (C,), "self_attn.q_proj.weight": (C, C), "self_attn.k_proj.weight": (kv, C),
                 "self_attn.v_proj.weight": (kv, C), "self_attn.o_proj.weight": (C, C),
                 "post_attention_layernorm.weight": (C,), "mlp.gate_proj.weight": (H, C), "mlp.up_proj.weight": (H, C),
                 "mlp.down_proj.weight": (C, H)}
    for i in range(L):
        shapes.update({f"model.layers.{i}.{k}": s for k, s in per_block.items()})
    shapes["model.norm.weight"] = (C,)
    shapes["lm_head.weight"] = (V, C)
    return shapes


def random_llama_state(config: dict, seed: int, scale: float = 0.3) -> dict[str, np.ndarray]:
    """A float64 Llama state dict with non-trivial values (norm weights near 1, weights N(0, scale^2))."""
    rng = np.random.default_rng(seed)
    return {name: (1.0 + 0.1 * rng.standard_normal(shape)) if name.endswith("norm.weight")
            else scale * rng.standard_normal(shape) for name, shape in llama_param_shapes(config).items()}


def llama_forward(config: dict, state: dict[str, np.ndarray], idx: np.ndarray, targets: np.ndarray | None = None,
                  **mistakes: Any) -> tuple[np.ndarray, float | None]:
    """Logits (B, T, V) and mean cross-entropy (targets != -1) of a Llama-style model: embed_tokens,
    blocks (positions 0..T-1 through RoPE only), final RMSNorm model.norm, untied lm_head."""
    idx = np.asarray(idx)
    x = embedding(idx, state["model.embed_tokens.weight"])
    theta, eps = config.get("rope_theta", 10000.0), config.get("norm_eps", RMS_EPS)
    for i in range(config["n_layer"]):
        prefix = f"model.layers.{i}."
        x = llama_block(x, config["n_head"], config.get("n_kv_head") or config["n_head"],
                        {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, theta, eps, **mistakes)
    logits = rms_norm(x, state["model.norm.weight"], eps) @ f64(state["lm_head.weight"]).T
    return logits, None if targets is None else cross_entropy(logits, targets)
