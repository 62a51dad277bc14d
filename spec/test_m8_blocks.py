"""M8 contracts: RMSNorm, SiLU, SwiGLU, RoPE, grouped-query attention and a Llama-style model.

Expected values come from spec/oracle.py (independent float64 NumPy: RoPE as complex
multiplication, GQA as multi-head attention over repeated kv heads); gradients from float64
central finite differences (spec/numerics.check_grads). Tolerances (spec/numerics.py):

* op forward vs oracle (float64): ``OP_RTOL = 1e-9``, ``OP_ATOL = 1e-11``; model: ``MODEL_RTOL``/``MODEL_ATOL``.
* gradients vs finite differences: ``GRAD_RTOL = 1e-5``, ``GRAD_ATOL = 1e-7``.
* float32 vs the float64 oracle: ``F32_RTOL``/``F32_ATOL`` (ops), ``F32_MODEL_RTOL``/``F32_MODEL_ATOL`` (model).
* causality: ``CAUSAL_ATOL = 1e-12``; cached vs recomputed decoding: ``CACHE_RTOL``/``CACHE_ATOL``.

A failure's hint names a known mistake (eps outside the root, the half-split RoPE pairing, a
flipped rotation, theta ignored, silu on the up projection, tiled kv heads, RoPE on v, ...) only
when the output matches the oracle computed WITH that mistake.
"""
from __future__ import annotations

import numpy as np
import pytest

from spec import oracle
from spec.numerics import (
    CACHE_ATOL, CACHE_RTOL, CAUSAL_ATOL, F32_ATOL, F32_MODEL_ATOL, F32_MODEL_RTOL, F32_RTOL, GRAD_ATOL, GRAD_RTOL,
    LARGE_FD_EPS, MODEL_ATOL, MODEL_RTOL, OP_ATOL, OP_RTOL, as_array, assert_clear_error, assert_close, check_grads, diagnose,
    expect_array, finite_difference,
)

pytestmark = pytest.mark.milestone("M8")

HS = 8
CONFIG = dict(block_size=8, vocab_size=11, n_layer=2, n_head=4, n_kv_head=2, n_embd=16, ffn_hidden=None,
              rope_theta=10000.0, norm_eps=1e-5, dropout=0.0)


def rand(shape, seed=0, scale=1.0, dtype=np.float64):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def T(impl, a, grad=False):
    return impl.tensor(np.asarray(a), requires_grad=grad)


# ----------------------------------------------------------------------------- RMSNorm


def rms_mistakes(x, w, eps):
    x = np.asarray(x, dtype=np.float64)
    rms = np.sqrt((x * x).mean(-1, keepdims=True))
    return [("eps is added OUTSIDE the root, x / (sqrt(mean(x^2)) + eps); it goes inside: x / sqrt(mean(x^2) + eps)",
             x / (rms + eps) * w),
            ("the weight is not applied (y = x / rms without * weight)", oracle.rms_norm(x, None, eps)),
            ("the mean is subtracted first (that is LayerNorm; RMSNorm does not centre)",
             oracle.layer_norm(x, w, None, eps))]


@pytest.mark.parametrize("shape", [(7,), (2, 5, 16)], ids=["C", "B_T_C"])
def test_rms_norm_matches_oracle(impl, shape):
    # small values, where eps = 1e-2 moves the result visibly: eps inside vs outside the root differ
    x, w, eps = rand(shape, 1, scale=0.05), 1.0 + 0.3 * rand(shape[-1:], 2), 1e-2
    got = as_array(impl, impl.rms_norm(T(impl, x), T(impl, w), eps))
    assert_close(got, oracle.rms_norm(x, w, eps), OP_RTOL, OP_ATOL,
                 f"rms_norm(x {shape}, eps={eps}) vs oracle x / sqrt(mean(x^2, -1) + eps) * weight",
                 diagnose(got, rms_mistakes(x, w, eps), OP_RTOL, OP_ATOL))


def test_rms_norm_default_eps(impl):
    x, w = rand((3, 6), 3, scale=0.01), rand((6,), 4)
    got = as_array(impl, impl.rms_norm(T(impl, x), T(impl, w)))
    assert_close(got, oracle.rms_norm(x, w, 1e-5), OP_RTOL, OP_ATOL, "rms_norm with the default eps (1e-5)",
                 diagnose(got, rms_mistakes(x, w, 1e-5), OP_RTOL, OP_ATOL))


def test_rms_norm_grads(impl):
    check_grads(impl, lambda x, w: impl.rms_norm(x, w, 1e-2), [rand((2, 3, 6), 5, scale=0.3), rand((6,), 6)],
                what="rms_norm gradients w.r.t. x and weight")


def test_rms_norm_float32(impl):
    x, w = rand((2, 4, 8), 7, dtype=np.float32), rand((8,), 8, dtype=np.float32)
    xt, wt = T(impl, x, True), T(impl, w, True)
    out = impl.rms_norm(xt, wt)
    got = as_array(impl, out)
    assert got.dtype == np.float32, f"rms_norm on float32 input returned {got.dtype} (keep float32)"
    assert_close(got, oracle.rms_norm(x, w), F32_RTOL, F32_ATOL, "float32 rms_norm vs the float64 oracle")
    impl.backward(out, np.ones(got.shape, dtype=np.float32))
    for name, t in (("x", xt), ("weight", wt)):
        assert np.asarray(impl.grad(t)).dtype == np.float32, f"rms_norm: the gradient w.r.t. float32 {name} must be float32"


# ----------------------------------------------------------------------------- SiLU and SwiGLU


def test_silu_matches_oracle(impl):
    x = np.concatenate([rand((20,), 9, scale=3.0), [-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    got = as_array(impl, impl.silu(T(impl, x)))
    assert_close(got, oracle.silu(x), OP_RTOL, OP_ATOL, "silu(x) vs oracle x * sigmoid(x) (incl. |x| = 1000: stable)",
                 diagnose(got, [("this is sigmoid(x); silu is x * sigmoid(x)", oracle.sigmoid(x))], OP_RTOL, OP_ATOL))


def test_silu_grads(impl):
    check_grads(impl, impl.silu, [rand((3, 5), 10, scale=2.0)], what="silu gradient")


def swiglu_case(C=6, H=10, seed=11, dtype=np.float64):
    return (rand((2, 3, C), seed, dtype=dtype), rand((H, C), seed + 1, 0.5, dtype), rand((H, C), seed + 2, 0.5, dtype),
            rand((C, H), seed + 3, 0.5, dtype))


def test_swiglu_matches_oracle(impl):
    x, w1, w3, w2 = swiglu_case()
    got = as_array(impl, impl.swiglu(*(T(impl, a) for a in (x, w1, w3, w2))))
    hint = diagnose(got, [("silu is applied to the up projection w3 x instead of the gate w1 x",
                           oracle.swiglu(x, w3, w1, w2))], OP_RTOL, OP_ATOL)
    assert_close(got, oracle.swiglu(x, w1, w3, w2), OP_RTOL, OP_ATOL,
                 "swiglu(x, w1 (H, C), w3 (H, C), w2 (C, H)) vs oracle (silu(x @ w1.T) * (x @ w3.T)) @ w2.T", hint)


def test_swiglu_grads(impl):
    check_grads(impl, impl.swiglu, list(swiglu_case(C=4, H=6, seed=12)),
                what="swiglu gradients w.r.t. x, w1 (gate), w3 (up), w2 (down)")


def test_swiglu_float32(impl):
    case = swiglu_case(dtype=np.float32)
    got = as_array(impl, impl.swiglu(*(T(impl, a) for a in case)))
    assert got.dtype == np.float32, f"swiglu on float32 returned {got.dtype} (keep float32)"
    assert_close(got, oracle.swiglu(*case), F32_RTOL, F32_ATOL, "float32 swiglu vs the float64 oracle")


# ----------------------------------------------------------------------------- RoPE


def rope_mistakes(x, positions, theta):
    return [("the pairs are (x[i], x[i + hs/2]) (Hugging Face's rotate_half layout); the contract pairs "
             "(x[2i], x[2i+1]) (Meta's interleaved layout)", oracle.rope_rotate_half(x, positions, theta)),
            ("the rotation has the wrong sign: (a, b) -> (a cos + b sin, -a sin + b cos); it is (a cos - b sin, "
             "a sin + b cos)", oracle.rope(x, -np.asarray(positions), theta)),
            ("theta is ignored (10000 used whatever theta is passed)", oracle.rope(x, positions, 10000.0)),
            ("the positions are ignored: 0..T-1 is used instead of the positions passed",
             oracle.rope(x, np.arange(len(positions)), theta)),
            ("the positions start at 1", oracle.rope(x, np.asarray(positions) + 1, theta))]


@pytest.mark.parametrize("theta", [10000.0, 500.0], ids=["theta10000", "theta500"])
@pytest.mark.parametrize("offset", [0, 5], ids=["from0", "offset5"])
def test_rope_matches_oracle(impl, theta, offset):
    x = rand((2, 3, 6, HS), 13)
    positions = np.arange(6) + offset
    got = as_array(impl, impl.rope(T(impl, x), positions, theta))
    assert_close(got, oracle.rope(x, positions, theta), OP_RTOL, OP_ATOL,
                 f"rope(x {x.shape}, positions {positions.tolist()}, theta={theta}) vs oracle (pair (x[2i], x[2i+1]) "
                 "as a complex number times exp(i * pos * theta^(-2i/hs)))",
                 diagnose(got, rope_mistakes(x, positions, theta), OP_RTOL, OP_ATOL))


def test_rope_position_zero_is_identity_and_norms_are_kept(impl):
    x = rand((1, 2, 4, HS), 14)
    got = as_array(impl, impl.rope(T(impl, x), np.arange(4) + 3))
    assert_close(np.linalg.norm(got, axis=-1), np.linalg.norm(x, axis=-1), OP_RTOL, OP_ATOL,
                 "per-token vector norms after rope (a rotation keeps them)")
    got0 = as_array(impl, impl.rope(T(impl, x[:, :, :1]), np.array([0])))
    assert_close(got0, x[:, :, :1], OP_RTOL, OP_ATOL, "rope at position 0 (angle 0: the identity)")


def test_rope_scores_depend_on_relative_position_only(impl):
    """The same q and k vectors placed at positions (i, j) and (i + s, j + s) give the same score."""
    q, k = rand((1, 1, 1, HS), 15), rand((1, 1, 1, HS), 16)
    pairs = [(3, 1), (7, 5), (12, 10), (102, 100)]
    scores = []
    for i, j in pairs:
        qi = as_array(impl, impl.rope(T(impl, q), np.array([i])))
        kj = as_array(impl, impl.rope(T(impl, k), np.array([j])))
        scores.append(float((qi * kj).sum()))
    assert_close(np.array(scores), np.full(len(pairs), scores[0]), OP_RTOL, OP_ATOL,
                 f"q.k scores after rope at position pairs {pairs} (all i - j = 2: they must be equal)",
                 "each pair must be rotated by pos * freq_i with the SAME frequencies for q and k")
    assert_close(scores[0], float((oracle.rope(q, [3]) * oracle.rope(k, [1])).sum()), OP_RTOL, OP_ATOL,
                 "the score at positions (3, 1) vs the oracle's")


def test_rope_grads(impl):
    check_grads(impl, lambda x: impl.rope(x, np.arange(5) + 2, 100.0), [rand((2, 2, 5, HS), 17)],
                what="rope gradient w.r.t. x (the transposed rotation)")


def test_rope_float32(impl):
    x = rand((2, 2, 5, HS), 18, dtype=np.float32)
    got = as_array(impl, impl.rope(T(impl, x), np.arange(5) + 3))
    assert got.dtype == np.float32, f"rope on float32 input returned {got.dtype} (keep float32)"
    assert_close(got, oracle.rope(x, np.arange(5) + 3), F32_RTOL, F32_ATOL, "float32 rope vs the float64 oracle")


# ----------------------------------------------------------------------------- grouped-query attention


def gqa_inputs(nh, nkv, tq=5, tk=5, seed=19, dtype=np.float64):
    return (rand((2, nh, tq, HS), seed, dtype=dtype), rand((2, nkv, tk, HS), seed + 1, dtype=dtype),
            rand((2, nkv, tk, HS), seed + 2, dtype=dtype))


def gqa_hint(got, q, k, v, causal=True):
    nh, nkv = q.shape[1], k.shape[1]
    tiled = np.arange(nh) % nkv
    return diagnose(got, [(f"query head h uses kv head h % n_kv_head (tiled, {tiled.tolist()}); the contract is "
                           f"h // (n_head // n_kv_head) ({(np.arange(nh) // (nh // nkv)).tolist()})",
                           oracle.attention(q, k[:, tiled], v[:, tiled], causal=causal))], OP_RTOL, OP_ATOL)


@pytest.mark.parametrize("nh, nkv", [(4, 4), (4, 2), (6, 2), (4, 1)], ids=["MHA", "GQA4_2", "GQA6_2", "MQA"])
def test_gqa_equals_mha_with_repeated_kv_heads(impl, nh, nkv):
    q, k, v = gqa_inputs(nh, nkv)
    got = as_array(impl, impl.grouped_query_attention(T(impl, q), T(impl, k), T(impl, v), causal=True))
    assert_close(got, oracle.grouped_query_attention(q, k, v), OP_RTOL, OP_ATOL,
                 f"grouped_query_attention(n_head={nh}, n_kv_head={nkv}) vs causal multi-head attention over k, v "
                 f"with kv head h // {nh // nkv} serving query head h", gqa_hint(got, q, k, v))


def test_gqa_non_causal_and_fewer_queries(impl):
    q, k, v = gqa_inputs(4, 2, tq=2, tk=6, seed=20)
    for causal in (False, True):
        got = as_array(impl, impl.grouped_query_attention(T(impl, q), T(impl, k), T(impl, v), causal=causal))
        assert_close(got, oracle.grouped_query_attention(q, k, v, causal=causal), OP_RTOL, OP_ATOL,
                     f"grouped_query_attention with Tq=2 < Tk=6, causal={causal} (causal: query i at position Tk - Tq + i)",
                     gqa_hint(got, q, k, v, causal))


@pytest.mark.parametrize("nkv", [2, 1], ids=["GQA", "MQA"])
def test_gqa_grads(impl, nkv):
    check_grads(impl, lambda q, k, v: impl.grouped_query_attention(q, k, v, causal=True),
                list(gqa_inputs(4, nkv, tq=4, tk=4, seed=21)),
                what=f"grouped_query_attention(n_head=4, n_kv_head={nkv}) gradients w.r.t. q, k, v (a kv head's "
                     "gradient sums over the query heads sharing it)")


def test_gqa_float32(impl):
    q, k, v = gqa_inputs(4, 2, dtype=np.float32)
    got = as_array(impl, impl.grouped_query_attention(T(impl, q), T(impl, k), T(impl, v)))
    assert got.dtype == np.float32, f"grouped_query_attention on float32 returned {got.dtype}"
    assert_close(got, oracle.grouped_query_attention(q, k, v), F32_RTOL, F32_ATOL, "float32 GQA vs the float64 oracle")


def test_gqa_kv_heads_not_dividing_is_a_clear_error(impl):
    """n_head 4 with n_kv_head 3: a clear error naming both head counts (not an IndexError deep inside)."""
    q, k, v = gqa_inputs(4, 3)
    with assert_clear_error("grouped_query_attention with 4 query heads and 3 kv heads",
                            names=[r"(?<!\d)4(?!\d)", r"(?<!\d)3(?!\d)"],
                            hint="n_kv_head must divide n_head: say so, naming both"):
        impl.grouped_query_attention(T(impl, q), T(impl, k), T(impl, v))


def test_rope_odd_head_size_is_a_clear_error(impl):
    """RoPE rotates pairs: a head size of 7 is a clear error naming it."""
    with assert_clear_error("rope on x with head size 7", names=[r"(?<!\d)7(?!\d)"],
                            hint="the last dim must be even (pairs (x[2i], x[2i+1]))"):
        impl.rope(T(impl, rand((1, 2, 3, 7), 40)), np.arange(3))


def test_blocks_at_a_realistic_size(impl):
    """GPT-2-small-sized inputs (C = 768, hs = 64, T = 64): a fused op may take another code path for large
    inputs. Forward vs oracle, gradients on sampled coordinates (finite-difference step LARGE_FD_EPS)."""
    x, w = rand((2, 64, 768), 41), 1.0 + 0.1 * rand((768,), 42)
    assert_close(as_array(impl, impl.rms_norm(T(impl, x), T(impl, w))), oracle.rms_norm(x, w), OP_RTOL, OP_ATOL,
                 "rms_norm(x (2, 64, 768)) vs oracle at a realistic size")
    check_grads(impl, impl.rms_norm, [x, w], max_coords=4, eps=LARGE_FD_EPS,
                what="rms_norm(x (2, 64, 768)) gradients at a realistic size")
    h = rand((2, 12, 64, 64), 43)
    assert_close(as_array(impl, impl.rope(T(impl, h), np.arange(64) + 100)), oracle.rope(h, np.arange(64) + 100),
                 OP_RTOL, OP_ATOL, "rope(x (2, 12, 64, 64), positions 100..163) vs oracle at a realistic size")
    check_grads(impl, lambda h: impl.rope(h, np.arange(64) + 100), [h], max_coords=4, eps=LARGE_FD_EPS,
                what="rope(x (2, 12, 64, 64)) gradient at a realistic size")
    q, k, v = rand((1, 8, 64, 32), 44), rand((1, 2, 64, 32), 45), rand((1, 2, 64, 32), 46)
    got = as_array(impl, impl.grouped_query_attention(T(impl, q), T(impl, k), T(impl, v)))
    assert_close(got[:, :, -4:], oracle.grouped_query_attention(q[:, :, -4:], k, v), OP_RTOL, OP_ATOL,
                 "grouped_query_attention(8 query heads over 2 kv heads, T=64) vs oracle on the last 4 queries")


# ----------------------------------------------------------------------------- Llama attention and block


def attn_case(C=16, nh=4, nkv=2, seed=22, dtype=np.float64):
    kv = nkv * (C // nh)
    return (rand((2, 6, C), seed, dtype=dtype), rand((C, C), seed + 1, 0.3, dtype), rand((kv, C), seed + 2, 0.3, dtype),
            rand((kv, C), seed + 3, 0.3, dtype), rand((C, C), seed + 4, 0.3, dtype))


@pytest.mark.parametrize("nkv", [4, 2, 1], ids=["MHA", "GQA", "MQA"])
def test_llama_self_attention_matches_oracle(impl, nkv):
    x, wq, wk, wv, wo = attn_case(nkv=nkv)
    got = as_array(impl, impl.llama_self_attention(T(impl, x), 4, nkv,
                                                   *(T(impl, a) for a in (wq, wk, wv, wo)), theta=300.0))
    hint = diagnose(got, [("rope is applied to v too; it rotates q and k only",
                           oracle.llama_self_attention(x, 4, nkv, wq, wk, wv, wo, 300.0, rotate_v=True)),
                          ("rope is not applied (or theta ignored)",
                           oracle.llama_self_attention(x, 4, nkv, wq, wk, wv, wo, 10000.0))], OP_RTOL, OP_ATOL)
    assert_close(got, oracle.llama_self_attention(x, 4, nkv, wq, wk, wv, wo, 300.0), OP_RTOL, OP_ATOL,
                 f"llama_self_attention(n_head=4, n_kv_head={nkv}, theta=300) vs oracle: x @ W.T projections, rope on q "
                 "and k at positions 0..T-1, causal GQA, o_proj", hint)


def test_llama_self_attention_is_causal(impl):
    x, *w = attn_case(seed=23)
    ws = [T(impl, a) for a in w]
    base = as_array(impl, impl.llama_self_attention(T(impl, x), 4, 2, *ws))
    x2 = x.copy()
    x2[:, 3:] += 2.0
    moved = as_array(impl, impl.llama_self_attention(T(impl, x2), 4, 2, *ws))
    assert_close(moved[:, :3], base[:, :3], 0, CAUSAL_ATOL,
                 "llama_self_attention outputs at positions < 3 after changing the input at positions >= 3")


def test_llama_self_attention_grads(impl):
    check_grads(impl, lambda x, *w: impl.llama_self_attention(x, 4, 2, *w), list(attn_case(C=8, seed=24)),
                what="llama_self_attention gradients w.r.t. x, q_proj, k_proj, v_proj, o_proj")


def block_params(config=CONFIG, seed=25):
    state = oracle.random_llama_state(config, seed)
    return {k[len("model.layers.0."):]: v for k, v in state.items() if k.startswith("model.layers.0.")}


def test_llama_block_matches_oracle(impl):
    p = block_params()
    x = rand((2, 5, CONFIG["n_embd"]), 26)
    got = as_array(impl, impl.llama_block(T(impl, x), 4, 2, {k: T(impl, v) for k, v in p.items()}, 1000.0, 1e-5))
    assert_close(got, oracle.llama_block(x, 4, 2, p, 1000.0, 1e-5), OP_RTOL, OP_ATOL,
                 "llama_block vs oracle: h = x + attn(rms_norm(x, input_layernorm)); h + swiglu(rms_norm(h, "
                 "post_attention_layernorm))")


def test_llama_block_grads(impl):
    config = dict(CONFIG, n_embd=8, ffn_hidden=12)
    p = block_params(config, 27)
    keys = list(oracle.LLAMA_BLOCK_KEYS)
    check_grads(impl, lambda x, *ps: impl.llama_block(x, 4, 2, dict(zip(keys, ps))),
                [rand((2, 4, 8), 28)] + [p[k] for k in keys], max_coords=16,
                what=f"llama_block gradients w.r.t. x and {keys} (16 sampled coordinates each)")


# ----------------------------------------------------------------------------- the Llama-style model


def batch(config=CONFIG, B=2, T_=None, seed=0):
    rng = np.random.default_rng(seed)
    T_ = config["block_size"] if T_ is None else T_
    return rng.integers(0, config["vocab_size"], (B, T_)), rng.integers(0, config["vocab_size"], (B, T_))


def run(impl, model, idx, targets=None):
    result = impl.gpt_forward(model, idx, targets)
    assert isinstance(result, (tuple, list)) and len(result) == 2, "gpt_forward must return (logits, loss)"
    return result


@pytest.mark.parametrize("config", [CONFIG, dict(CONFIG, n_kv_head=1, ffn_hidden=24, n_embd=8)], ids=["GQA", "MQA"])
def test_llama_init_names_and_shapes_are_hfs(impl, config):
    state = impl.llama_init(config, 0)
    expected = oracle.llama_param_shapes(config)
    got = {k: tuple(np.shape(v)) for k, v in state.items()}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not missing and not extra, (f"llama_init names differ from Hugging Face Llama's: missing {missing}, "
                                       f"unexpected {extra}")
    wrong = {k: (got[k], s) for k, s in expected.items() if got[k] != s}
    H = oracle.swiglu_hidden(config["n_embd"], config["ffn_hidden"])
    assert not wrong, (f"parameter shapes (got, expected) differ: {wrong}. Weights are HF's (out, in); k/v_proj hold "
                       f"n_kv_head * hs rows; the SwiGLU hidden size is ffn_hidden if set, else 32 * ceil(2/3 * 4 * "
                       f"n_embd / 32) = {H}")
    for name, a in state.items():
        a = np.asarray(a)
        assert np.all(np.isfinite(a)), f"llama_init: {name} is not finite"
        if name.endswith("norm.weight"):
            assert np.all(a == 1), f"llama_init: RMSNorm weight {name} must start at 1"
    again, other = impl.llama_init(config, 0), impl.llama_init(config, 1)
    assert all(np.array_equal(state[k], again[k]) for k in state), "llama_init with the same seed must be identical"
    assert not np.array_equal(state["lm_head.weight"], other["lm_head.weight"]), "llama_init ignores the seed"


def test_llama_forward_matches_oracle(impl):
    state = oracle.random_llama_state(CONFIG, 29)
    idx, targets = batch(seed=29)
    targets[0, 2] = -1
    logits, loss = run(impl, impl.llama_model(CONFIG, state), idx, targets)
    got = as_array(impl, logits, "the logits of the Llama model")
    want_logits, want_loss = oracle.llama_forward(CONFIG, state, idx, targets)
    hint = diagnose(got, [("rope is applied to v too", oracle.llama_forward(CONFIG, state, idx, rotate_v=True)[0])],
                    MODEL_RTOL, MODEL_ATOL)
    assert_close(got, want_logits, MODEL_RTOL, MODEL_ATOL, "Llama logits vs oracle: embed_tokens, blocks (RoPE "
                 "positions 0..T-1), rms_norm(model.norm), x @ lm_head.weight.T (untied)", hint)
    assert_close(as_array(impl, loss, "the loss"), want_loss, MODEL_RTOL, MODEL_ATOL,
                 "Llama loss vs oracle (mean cross-entropy over targets != -1)")


def test_llama_parameters_are_hf_names_and_live_leaves(impl):
    state = oracle.random_llama_state(CONFIG, 30)
    params = impl.gpt_parameters(impl.llama_model(CONFIG, state))
    assert set(params) == set(state), (f"gpt_parameters of the Llama model: missing {sorted(set(state) - set(params))}, "
                                       f"unexpected {sorted(set(params) - set(state))} (HF names; lm_head untied)")
    for name, t in params.items():
        assert_close(as_array(impl, t), state[name], 0, 0, f"parameter {name} must hold the loaded value (HF layout)")


def test_llama_gradients_match_finite_differences(impl):
    config = dict(CONFIG, n_embd=8, ffn_hidden=12, n_layer=1)
    state = oracle.random_llama_state(config, 31)
    idx, targets = batch(config, T_=5, seed=31)
    names = sorted(state)
    model = impl.llama_model(config, state)
    _, loss = run(impl, model, idx, targets)
    impl.backward(loss)
    params = impl.gpt_parameters(model)
    arrays = [np.array(state[n]) for n in names]

    def loss_of(arrs):
        return float(as_array(impl, run(impl, impl.llama_model(config, dict(zip(names, arrs))), idx, targets)[1]))

    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        g = impl.grad(params[name])
        assert g is not None, f"no gradient reached {name}"
        flat = rng.choice(arrays[i].size, size=min(3, arrays[i].size), replace=False)
        coords = [tuple(int(c) for c in np.unravel_index(k, arrays[i].shape)) for k in flat]
        numeric = finite_difference(loss_of, arrays, i, coords=coords)
        assert_close(np.array([np.asarray(g)[c] for c in coords]), np.array([numeric[c] for c in coords]),
                     GRAD_RTOL, GRAD_ATOL, f"d loss / d {name} at {coords} vs finite differences")


def test_llama_is_causal_with_rope(impl):
    model = impl.llama_model(CONFIG, oracle.random_llama_state(CONFIG, 32))
    idx, _ = batch(seed=32)
    base = as_array(impl, run(impl, model, idx)[0]).copy()
    for t in (1, 5):
        idx2 = idx.copy()
        idx2[:, t:] = (idx2[:, t:] + 1) % CONFIG["vocab_size"]
        moved = as_array(impl, run(impl, model, idx2)[0])
        assert_close(moved[:, :t], base[:, :t], 0, CAUSAL_ATOL,
                     f"Llama logits at positions < {t} after changing the tokens at positions >= {t}")


def test_llama_float32(impl):
    state = oracle.random_llama_state(CONFIG, 34)
    idx, targets = batch(seed=34)
    model = impl.llama_model(CONFIG, state, dtype=np.float32)
    logits, loss = run(impl, model, idx, targets)
    got = as_array(impl, logits)
    assert got.dtype == np.float32, f"llama_model(dtype=float32) gave {got.dtype} logits"
    assert_close(got, oracle.llama_forward(CONFIG, state, idx)[0], F32_MODEL_RTOL, F32_MODEL_ATOL,
                 "float32 Llama logits vs the float64 oracle")
    impl.backward(loss)
    for name, t in impl.gpt_parameters(model).items():
        assert np.asarray(impl.grad(t)).dtype == np.float32, f"the gradient of {name} must be float32"


def test_llama_model_rejects_a_bad_state_dict(impl):
    state = oracle.random_llama_state(CONFIG, 0)
    name = "model.layers.1.self_attn.k_proj.weight"
    bad = dict(state, **{name: np.zeros((CONFIG["n_embd"], CONFIG["n_embd"]))})  # n_head rows instead of n_kv_head
    with assert_clear_error(f"llama_model with {name} of shape (16, 16) (n_kv_head=2 needs (8, 16))", names=[name]):
        impl.llama_model(CONFIG, bad)


def test_llama_too_long_is_a_clear_error(impl):
    model = impl.llama_model(CONFIG, oracle.random_llama_state(CONFIG, 0))
    with assert_clear_error("gpt_forward on a Llama model with T=9 > block_size=8", names=[r"(?<!\d)9(?!\d)"]):
        impl.gpt_forward(model, np.zeros((1, 9), dtype=np.int64))


# ----------------------------------------------------------------------------- decoding with a KV cache


GEN_CONFIGS = {"GQA": dict(CONFIG, n_embd=16, rope_theta=100.0), "MQA": dict(CONFIG, n_kv_head=1)}


def window_logits(config, state, seq):
    """Next-token logits after each prefix, recomputed on nanoGPT's sliding window (last block_size tokens)."""
    B = config["block_size"]
    return np.stack([oracle.llama_forward(config, state, np.array([seq[max(0, n - B):n]]))[0][0, -1]
                     for n in range(1, len(seq) + 1)])


@pytest.mark.parametrize("kind", list(GEN_CONFIGS))
def test_llama_step_logits_cached_equals_recompute(impl, kind):
    config = GEN_CONFIGS[kind]
    state = oracle.random_llama_state(config, 35, scale=0.5)
    model = impl.llama_model(config, state)
    prompt, cont = np.array([3, 1, 4]), np.array([1, 5, 9, 2, 6, 5, 3, 5, 8])  # runs past block_size 8
    cached = expect_array(impl.step_logits(model, prompt, cont, use_cache=True), "step_logits(use_cache=True)",
                          (len(cont) + 1, config["vocab_size"]), "f")
    plain = expect_array(impl.step_logits(model, prompt, cont, use_cache=False), "step_logits(use_cache=False)",
                         (len(cont) + 1, config["vocab_size"]), "f")
    want = window_logits(config, state, np.concatenate([prompt, cont]).tolist())[len(prompt) - 1:]
    assert_close(plain, want, MODEL_RTOL, MODEL_ATOL, f"Llama ({kind}) step_logits without the cache vs the oracle")
    for j in range(len(cont) + 1):
        hint = ("" if len(prompt) + j <= config["block_size"] else
                "past block_size the window moves: every kept token gets a new position, so the cache is re-filled")
        assert_close(cached[j], plain[j], CACHE_RTOL, CACHE_ATOL,
                     f"Llama ({kind}) next-token logits after the prompt + {j} tokens, with the KV cache vs recomputed "
                     "(the cache holds n_kv_head heads; new keys are rotated at position = cache length)", hint)


@pytest.mark.parametrize("kind", list(GEN_CONFIGS))
def test_llama_greedy_generate_cached_equals_uncached(impl, kind):
    config = GEN_CONFIGS[kind]
    state = oracle.random_llama_state(config, 36, scale=0.5)
    model = impl.llama_model(config, state)
    prompt = np.array([2, 7, 1])
    seq = prompt.tolist()
    for _ in range(10):
        seq.append(int(np.argmax(window_logits(config, state, seq)[-1])))
    for use_cache in (True, False):
        got = expect_array(impl.generate(model, prompt, 10, temperature=0.0, use_cache=use_cache),
                           f"generate(use_cache={use_cache})", (13,), "iu")
        assert got.tolist() == seq, (f"Llama ({kind}) greedy generate(use_cache={use_cache}) gave {got.tolist()}, the "
                                     f"oracle {seq} (past block_size 8: the window moves)")
