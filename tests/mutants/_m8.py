"""A composed M8 adapter: RMSNorm, SiLU, SwiGLU, RoPE, GQA and a Llama-style model written with the
reference's M1-M3 ops (numgpt's Tensor, its attention), independent of numgpt's own M8 code, with
switches in ``BROKEN`` that break it one way at a time. The M8 mutants (``m8_*.py``) flip one switch;
tests/test_spec_m8.py grades this adapter unbroken (it must pass every M8 contract).

Not collected as a mutant: the harness only picks up ``m<digit>_*.py``.
"""
from __future__ import annotations

import numpy as np

import numgpt.tensor as nt
from numgpt.tensor import Tensor
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

BROKEN = dict.fromkeys([
    "rms_eps_outside_root", "rms_no_weight", "silu_is_sigmoid", "swiglu_silu_on_up", "rope_half_split",
    "rope_sign_flipped", "rope_theta_ignored", "rope_on_v", "gqa_modulo_heads", "cache_positions_not_offset",
    "cache_tiles_kv_heads", "swiglu_hidden_4c", "no_final_norm", "rope_positions_from_one",
], False)


def _const(a: np.ndarray, like: Tensor) -> Tensor:
    return Tensor(np.asarray(a, dtype=like.dtype))


def rms_norm(x, weight, eps=1e-5):
    ms = (x * x).mean(axis=-1, keepdims=True)
    y = x / ((ms ** 0.5) + eps) if BROKEN["rms_eps_outside_root"] else x * (ms + eps) ** -0.5
    return y if BROKEN["rms_no_weight"] else y * weight


def _sigmoid(x):
    return ((x * 0.5).tanh() + 1.0) * 0.5  # 1 / (1 + exp(-x)) without overflow


def silu(x):
    return _sigmoid(x) if BROKEN["silu_is_sigmoid"] else x * _sigmoid(x)


def swiglu(x, w1, w3, w2):
    gate, up = x @ w1.transpose(), x @ w3.transpose()
    hidden = gate * silu(up) if BROKEN["swiglu_silu_on_up"] else silu(gate) * up
    return hidden @ w2.transpose()


def rope(x, positions, theta=10000.0):
    positions = np.asarray(positions)
    if BROKEN["rope_positions_from_one"]:
        positions = positions + 1
    hs = x.shape[-1]
    if hs % 2:
        raise ValueError(f"rope needs an even head size (pairs x[2i], x[2i+1]), got {hs}")
    base = 10000.0 if BROKEN["rope_theta_ignored"] else theta
    angles = positions[:, None].astype(np.float64) * base ** (-np.arange(0, hs, 2) / hs)[None, :]  # (T, hs/2)
    cos, sin = _const(np.cos(angles), x), _const(np.sin(angles), x)
    if BROKEN["rope_sign_flipped"]:
        sin = -sin
    if BROKEN["rope_half_split"]:
        a, b = x[..., :hs // 2], x[..., hs // 2:]
        return nt.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    return nt.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(x.shape)


def _kv_heads(n_head, n_kv_head):
    if n_head % n_kv_head:
        raise ValueError(f"n_kv_head {n_kv_head} must divide n_head {n_head}")
    if BROKEN["gqa_modulo_heads"]:
        return np.arange(n_head) % n_kv_head
    return np.arange(n_head) // (n_head // n_kv_head)


def grouped_query_attention(q, k, v, causal=True):
    heads = _kv_heads(q.shape[1], k.shape[1])
    return _ref.scaled_dot_product_attention(q, k[:, heads], v[:, heads], causal=causal)


def _project(x, n_head, n_kv_head, wq, wk, wv, theta, positions):
    B, T, C = x.shape
    hs = wq.shape[0] // n_head
    split = lambda y, h: y.reshape((B, T, h, hs)).transpose((0, 2, 1, 3))  # noqa: E731
    q = rope(split(x @ wq.transpose(), n_head), positions, theta)
    k = rope(split(x @ wk.transpose(), n_kv_head), positions, theta)
    v = split(x @ wv.transpose(), n_kv_head)
    if BROKEN["rope_on_v"]:
        v = rope(v, positions, theta)
    return q, k, v


def _merge(y, wo):
    B, nh, T, hs = y.shape
    return y.transpose((0, 2, 1, 3)).reshape((B, T, nh * hs)) @ wo.transpose()


def llama_self_attention(x, n_head, n_kv_head, q_proj, k_proj, v_proj, o_proj, theta=10000.0):
    q, k, v = _project(x, n_head, n_kv_head, q_proj, k_proj, v_proj, theta, np.arange(x.shape[1]))
    return _merge(grouped_query_attention(q, k, v, causal=True), o_proj)


def _block(x, n_head, n_kv_head, p, theta, eps, attend):
    h = x + attend(rms_norm(x, p["input_layernorm.weight"], eps))
    return h + swiglu(rms_norm(h, p["post_attention_layernorm.weight"], eps), p["mlp.gate_proj.weight"],
                      p["mlp.up_proj.weight"], p["mlp.down_proj.weight"])


def llama_block(x, n_head, n_kv_head, params, theta=10000.0, eps=1e-5):
    attend = lambda h: llama_self_attention(h, n_head, n_kv_head, params["self_attn.q_proj.weight"],  # noqa: E731
                                            params["self_attn.k_proj.weight"], params["self_attn.v_proj.weight"],
                                            params["self_attn.o_proj.weight"], theta)
    return _block(x, n_head, n_kv_head, params, theta, eps, attend)


class Llama:
    """The composed model: HF-named float tensors, forward with an optional per-layer KV cache."""

    def __init__(self, config, state, dtype):
        self.config = dict(config)
        self.params = {k: Tensor(np.asarray(v, dtype=dtype), requires_grad=True) for k, v in state.items()}

    def forward(self, idx, cache=None, start=0):
        c, p = self.config, self.params
        nh, nkv = c["n_head"], c.get("n_kv_head") or c["n_head"]
        theta, eps = c.get("rope_theta", 10000.0), c.get("norm_eps", 1e-5)
        x = _ref.embedding(idx, p["model.embed_tokens.weight"])
        positions = np.arange(idx.shape[1]) + (0 if BROKEN["cache_positions_not_offset"] else start)
        for i in range(c["n_layer"]):
            b = {k[len(f"model.layers.{i}."):]: v for k, v in p.items() if k.startswith(f"model.layers.{i}.")}

            def attend(h, b=b, i=i):
                q, k, v = _project(h, nh, nkv, b["self_attn.q_proj.weight"], b["self_attn.k_proj.weight"],
                                   b["self_attn.v_proj.weight"], theta, positions)
                if cache is not None:
                    if BROKEN["cache_tiles_kv_heads"]:  # stores n_head heads, repeated in the wrong order
                        k, v = k[:, np.arange(nh) % nkv], v[:, np.arange(nh) % nkv]
                    if i in cache:
                        k = nt.concatenate([cache[i][0], k], axis=2)
                        v = nt.concatenate([cache[i][1], v], axis=2)
                    cache[i] = (k, v)
                    if k.shape[1] != nkv:
                        return _merge(_ref.scaled_dot_product_attention(q, k, v, causal=True), b["self_attn.o_proj.weight"])
                return _merge(grouped_query_attention(q, k, v, causal=True), b["self_attn.o_proj.weight"])

            x = _block(x, nh, nkv, b, theta, eps, attend)
        if not BROKEN["no_final_norm"]:
            x = rms_norm(x, p["model.norm.weight"], eps)
        return x @ p["lm_head.weight"].transpose()


def llama_init(config, seed):
    from spec import oracle
    rng = np.random.default_rng(seed)
    shapes = oracle.llama_param_shapes(config)
    if BROKEN["swiglu_hidden_4c"]:
        C = config["n_embd"]
        shapes = {k: ((4 * C, C) if k.endswith(("gate_proj.weight", "up_proj.weight")) else (C, 4 * C)
                      if k.endswith("down_proj.weight") else s) for k, s in shapes.items()}
    return {k: np.ones(s) if k.endswith("norm.weight") else 0.02 * rng.standard_normal(s) for k, s in shapes.items()}


def llama_model(config, state_dict, dtype=np.float64):
    from spec import oracle
    expected = oracle.llama_param_shapes(config)
    for name in sorted(set(expected) ^ set(state_dict)):
        raise KeyError(f"llama_model: parameter {name} is {'missing' if name in expected else 'unexpected'}")
    for name, shape in expected.items():
        if np.shape(state_dict[name]) != shape:
            raise ValueError(f"llama_model: {name} has shape {np.shape(state_dict[name])}, expected {shape}")
    return Llama(config, state_dict, dtype)


def gpt_parameters(model):
    return dict(model.params) if isinstance(model, Llama) else _ref.gpt_parameters(model)


def gpt_forward(model, idx, targets=None):
    if not isinstance(model, Llama):
        return _ref.gpt_forward(model, idx, targets)
    idx = np.asarray(idx)
    if idx.shape[1] > model.config["block_size"]:
        raise ValueError(f"sequence length {idx.shape[1]} > block_size {model.config['block_size']}")
    logits = model.forward(idx)
    return logits, None if targets is None else _ref.cross_entropy(logits, targets)


def gpt_train_mode(model, training):
    if not isinstance(model, Llama):
        _ref.gpt_train_mode(model, training)


def _window_start(n, block_size, shift):
    return 0 if n <= block_size else shift * -(-(n - block_size) // shift)


class _Decoder:
    """Next-token logits of a growing sequence: with the cache, feeds only the new tokens (re-filling the
    cache when the window moves); without it, recomputes the window."""

    def __init__(self, model, use_cache, window_shift):
        self.model, self.use_cache, self.shift = model, use_cache, window_shift
        self.seq, self.cache, self.cache_start = [], None, None

    def feed(self, tokens):
        self.seq += [int(t) for t in tokens]
        start = _window_start(len(self.seq), self.model.config["block_size"], self.shift)
        with _ref.no_grad():
            if not self.use_cache:
                return _ref.to_numpy(self.model.forward(np.array([self.seq[start:]])))[0, -1]
            if self.cache_start != start:
                self.cache, self.cache_start = {}, start
                return _ref.to_numpy(self.model.forward(np.array([self.seq[start:]]), self.cache))[0, -1]
            n_new = len(tokens)
            cached = len(self.seq) - n_new - start
            logits = self.model.forward(np.array([self.seq[-n_new:]]), self.cache, cached)
            return _ref.to_numpy(logits)[0, -1]


def step_logits(model, prompt_ids, continuation_ids, use_cache=True, window_shift=1):
    if not isinstance(model, Llama):
        return _ref.step_logits(model, prompt_ids, continuation_ids, use_cache, window_shift)
    d = _Decoder(model, use_cache, window_shift)
    return np.stack([d.feed(list(prompt_ids))] + [d.feed([t]) for t in continuation_ids])


def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None, stop_tokens=(),
             use_cache=True, window_shift=1):
    if not isinstance(model, Llama):
        return _ref.generate(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, seed, stop_tokens,
                             use_cache, window_shift)
    rng, d = np.random.default_rng(seed), _Decoder(model, use_cache, window_shift)
    seq, logits = [int(t) for t in prompt_ids], d.feed(list(prompt_ids))
    for _ in range(max_new_tokens):
        probs = _ref.filter_logits(logits, temperature, top_k, top_p)
        token = int(np.argmax(probs)) if temperature == 0 else int(rng.choice(len(probs), p=probs))
        seq.append(token)
        if token in stop_tokens:
            break
        logits = d.feed([token])
    return np.array(seq)
