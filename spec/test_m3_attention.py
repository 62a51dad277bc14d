"""M3 contracts: scaled dot-product attention and GPT-2's multi-head causal self-attention.

Expected values come from spec/oracle.py (one query row at a time, plain float64 NumPy);
gradients from float64 central finite differences (spec/numerics.check_grads). Tolerances:

* float64 forward vs oracle: ``OP_RTOL = 1e-9``, ``OP_ATOL = 1e-11``.
* gradients vs finite differences: ``GRAD_RTOL = 1e-5``, ``GRAD_ATOL = 1e-7``.
* float32 forward vs the float64 oracle: ``F32_RTOL = 1e-4``, ``F32_ATOL = 1e-5``.
* causality: outputs at earlier positions may not move by more than ``CAUSAL_ATOL = 1e-12``
  when a later position changes (in exact arithmetic they do not move at all).

Decision on fully masked rows: a query row that may attend to no key has output 0 and passes no
gradient (never NaN). ``causal=True`` with Tq < Tk places query i at absolute position Tk - Tq + i
(decoding with a KV cache).
"""
from __future__ import annotations

import numpy as np
import pytest

from spec import oracle
from spec.numerics import (
    CAUSAL_ATOL, F32_ATOL, F32_RTOL, LARGE_FD_EPS, OP_ATOL, OP_RTOL, as_array, assert_clear_error, assert_close,
    check_grads, shape_regex,
)

pytestmark = pytest.mark.milestone("M3")

HS = 8  # head size; 1/sqrt(8) vs 1/8 vs 1 are all distinguishable


def rand(shape, seed=0, scale=1.0, dtype=np.float64):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def qkv(lead, tq, tk, seed=0, hs=HS, dtype=np.float64):
    return rand(lead + (tq, hs), seed, dtype=dtype), rand(lead + (tk, hs), seed + 1, dtype=dtype), \
        rand(lead + (tk, hs), seed + 2, dtype=dtype)


def sdpa(impl, q, k, v, **kw):
    return as_array(impl, impl.scaled_dot_product_attention(impl.tensor(q), impl.tensor(k), impl.tensor(v), **kw))


# ----------------------------------------------------------------------------- scaled dot-product attention


@pytest.mark.parametrize("lead", [(), (3,), (2, 3)], ids=["no_batch", "B", "B_H"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_sdpa_forward_matches_oracle(impl, lead, causal):
    q, k, v = qkv(lead, 5, 5)
    assert_close(sdpa(impl, q, k, v, causal=causal), oracle.attention(q, k, v, causal=causal), OP_RTOL, OP_ATOL,
                 f"scaled_dot_product_attention(q {q.shape}, causal={causal}) vs oracle softmax(q k^T / sqrt(hs)) v "
                 "(scale 1/sqrt(hs) with hs = q.shape[-1]; causal: query i sees keys j <= i)")


def test_sdpa_cross_attention_tq_ne_tk(impl):
    q, k, v = qkv((2,), 3, 6)
    assert_close(sdpa(impl, q, k, v), oracle.attention(q, k, v), OP_RTOL, OP_ATOL,
                 "non-causal attention with Tq=3 queries over Tk=6 keys")


def test_sdpa_causal_with_fewer_queries_than_keys(impl):
    q, k, v = qkv((2, 2), 2, 6)
    assert_close(sdpa(impl, q, k, v, causal=True), oracle.attention(q, k, v, causal=True), OP_RTOL, OP_ATOL,
                 "causal attention with Tq=2 < Tk=6 (a KV-cache step): query i sits at absolute position "
                 "Tk - Tq + i, so the last query sees every key and the first one all but the last")


@pytest.mark.parametrize("mask_lead", [(), (2, 1)], ids=["mask_TqTk", "mask_B1TqTk"])
def test_sdpa_explicit_mask(impl, mask_lead):
    q, k, v = qkv((2, 3), 4, 5)
    mask = np.random.default_rng(5).random(mask_lead + (4, 5)) < 0.6
    mask[..., 0] = True  # every row keeps at least one key here
    assert_close(sdpa(impl, q, k, v, mask=mask), oracle.attention(q, k, v, mask=mask), OP_RTOL, OP_ATOL,
                 f"attention with a boolean mask {mask.shape} broadcast to (..., Tq, Tk) (True = may attend; "
                 "masked scores must be -inf before the softmax)")


def test_sdpa_key_padding_mask(impl):
    """A key-padding mask of shape (B, 1, 1, Tk) (True = a real token) over q, k, v (B, H, Tq, Tk):
    it broadcasts over heads and queries, so every query of batch row b ignores b's padded keys."""
    q, k, v = qkv((3, 2), 4, 6, seed=6)
    lengths = np.array([6, 4, 1])  # real keys per batch row; the rest is padding
    mask = (np.arange(6)[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, Tk)
    hint = ("a (B, 1, 1, Tk) mask broadcasts against the scores (B, H, Tq, Tk) from the right: mask[b, 0, 0, j] "
            "applies to every head and query of batch row b (do not require a (Tq, Tk) mask)")
    assert_close(sdpa(impl, q, k, v, mask=mask), oracle.attention(q, k, v, mask=mask), OP_RTOL, OP_ATOL,
                 f"attention with a key-padding mask {mask.shape} (key lengths {lengths.tolist()})", hint)
    check_grads(impl, lambda q, k, v: impl.scaled_dot_product_attention(q, k, v, mask=mask), [q, k, v],
                what=f"attention with a key-padding mask {mask.shape}: gradients w.r.t. q, k, v (padded keys and "
                     "values get zero gradient)", hint=hint)


def test_sdpa_mask_and_causal_combine(impl):
    q, k, v = qkv((2,), 5, 5)
    mask = np.ones((5, 5), dtype=bool)
    mask[:, 1] = False
    assert_close(sdpa(impl, q, k, v, causal=True, mask=mask), oracle.attention(q, k, v, causal=True, mask=mask),
                 OP_RTOL, OP_ATOL, "causal=True together with a mask: a key is used only if both allow it")


def test_sdpa_fully_masked_row_is_zero_not_nan(impl):
    q, k, v = qkv((2,), 4, 5)
    mask = np.ones((4, 5), dtype=bool)
    mask[2] = False  # query 2 may attend to nothing
    leaves = [impl.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = impl.scaled_dot_product_attention(*leaves, mask=mask)
    got = as_array(impl, out)
    assert np.all(np.isfinite(got)), (
        "a query row with every key masked produced NaN/inf: softmax over all -inf is 0/0. The spec defines "
        "its output as 0 (guard the row, e.g. set its weights to 0)")
    assert_close(got, oracle.attention(q, k, v, mask=mask), OP_RTOL, OP_ATOL,
                 "attention with a fully masked query row (defined output: zeros for that row)")
    impl.backward(out, rand(got.shape, 9))
    for name, leaf in zip("qkv", leaves):
        g = np.asarray(impl.grad(leaf))
        assert np.all(np.isfinite(g)), f"a fully masked row made the gradient w.r.t. {name} non-finite"
    assert np.all(np.asarray(impl.grad(leaves[0]))[:, 2] == 0), "a fully masked query row must get zero gradient"


@pytest.mark.parametrize("case", ["full", "causal", "mask", "cross"])
def test_sdpa_grads(impl, case):
    tq, tk = (3, 5) if case == "cross" else (4, 4)
    q, k, v = qkv((2,), tq, tk, seed=3)
    mask = None
    if case == "mask":
        mask = np.random.default_rng(1).random((tq, tk)) < 0.5
        mask[:, -1] = True
    kw = {"causal": case == "causal", "mask": mask}
    check_grads(impl, lambda q, k, v: impl.scaled_dot_product_attention(q, k, v, **kw), [q, k, v],
                what=f"scaled_dot_product_attention ({case}) gradients w.r.t. q, k, v")


def test_sdpa_causal_later_keys_never_change_earlier_outputs(impl):
    q, k, v = qkv((2, 2), 6, 6)
    base = sdpa(impl, q, k, v, causal=True)
    for t in range(1, 6):
        k2, v2 = k.copy(), v.copy()
        k2[..., t:, :] += 10.0
        v2[..., t:, :] -= 10.0
        moved = sdpa(impl, q, k2, v2, causal=True)
        assert_close(moved[..., :t, :], base[..., :t, :], 0, CAUSAL_ATOL,
                     f"causal attention outputs at positions < {t} after changing keys/values at positions >= {t} "
                     "(position t may see only positions <= t: is the causal mask off by one?)")


def test_sdpa_huge_scores_stay_finite(impl):
    q, k, v = qkv((2,), 5, 5, seed=4)
    q = q * 1e4
    leaves = [impl.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = impl.scaled_dot_product_attention(*leaves, causal=True)
    got = as_array(impl, out)
    assert_close(got, oracle.attention(q, k, v, causal=True), OP_RTOL, OP_ATOL,
                 "attention with scores of magnitude ~1e4 (softmax must subtract the row max)")
    impl.backward(out, np.ones(got.shape))
    assert all(np.all(np.isfinite(np.asarray(impl.grad(t)))) for t in leaves), \
        "attention gradients must stay finite for scores of magnitude ~1e4"


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_sdpa_at_a_realistic_size(impl, causal):
    """GPT-2-sized heads (T = 128, hs = 64; 1.3e5 scores): an implementation may take another code path
    for large inputs (chunked or tiled attention). Forward vs the oracle, gradients on sampled
    coordinates (finite-difference step LARGE_FD_EPS, spec/numerics.py)."""
    q, k, v = qkv((2, 4), 128, 128, seed=8, hs=64)
    got = sdpa(impl, q, k, v, causal=causal)
    # the oracle goes one query row at a time in Python: compare 24 sampled rows (batch, head, query)
    rng = np.random.default_rng(0)
    rows = [(int(b), int(h), int(i)) for b, h, i in zip(rng.integers(0, 2, 24), rng.integers(0, 4, 24),
                                                         rng.integers(0, 128, 24))]
    allowed = oracle.causal_mask(128, 128) if causal else np.ones((128, 128), dtype=bool)
    want = [oracle.attention(q[b, h, i:i + 1], k[b, h], v[b, h], mask=allowed[i:i + 1])[0] for b, h, i in rows]
    assert_close(np.array([got[r] for r in rows]), np.array(want), OP_RTOL, OP_ATOL,
                 f"attention(q {q.shape}, causal={causal}) at a realistic size vs oracle, on the (batch, head, "
                 f"query) rows {rows}", "the small-size contracts pass, so look for a code path taken only for "
                 "large inputs")
    check_grads(impl, lambda q, k, v: impl.scaled_dot_product_attention(q, k, v, causal=causal), [q, k, v],
                max_coords=4, eps=LARGE_FD_EPS,
                what=f"attention(q {q.shape}, causal={causal}) at a realistic size: gradients w.r.t. q, k, v")


def test_sdpa_head_size_mismatch_is_a_clear_error(impl):
    """q (2, 4, 8) with k (2, 4, 5): a clear error whose message names both shapes."""
    q, k, v = qkv((2,), 4, 4)
    with assert_clear_error("scaled_dot_product_attention(q (2, 4, 8), k (2, 4, 5))",
                            names=[shape_regex(q.shape), shape_regex((2, 4, 5))],
                            hint="q and k need the same head size (last dim): name both shapes"):
        impl.scaled_dot_product_attention(impl.tensor(q), impl.tensor(k[..., :5]), impl.tensor(v))


def test_sdpa_float32_in_float32_out(impl):
    q, k, v = qkv((2, 2), 5, 5, dtype=np.float32)
    leaves = [impl.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = impl.scaled_dot_product_attention(*leaves, causal=True)
    got = as_array(impl, out)
    assert got.dtype == np.float32, f"attention on float32 inputs returned {got.dtype} (keep float32)"
    assert_close(got, oracle.attention(q, k, v, causal=True), F32_RTOL, F32_ATOL, "float32 attention vs oracle")
    impl.backward(out, np.ones(got.shape, dtype=np.float32))
    for name, t in zip("qkv", leaves):
        assert np.asarray(impl.grad(t)).dtype == np.float32, f"the gradient w.r.t. float32 {name} must be float32"


def test_sdpa_repeated_calls_are_bit_identical(impl):
    q, k, v = qkv((2, 2), 5, 5)
    runs = []
    for _ in range(2):
        leaves = [impl.tensor(a.copy(), requires_grad=True) for a in (q, k, v)]
        out = impl.scaled_dot_product_attention(*leaves, causal=True)
        impl.backward(out, np.ones(as_array(impl, out).shape))
        runs.append([as_array(impl, out).copy()] + [np.asarray(impl.grad(t)).copy() for t in leaves])
    assert all(np.array_equal(a, b) for a, b in zip(*runs)), "two identical attention calls differ (non-determinism)"


# ----------------------------------------------------------------------------- causal self-attention


def csa_case(B=2, T=5, C=12, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, C))
    w_attn, w_proj = 0.4 * rng.standard_normal((C, 3 * C)), 0.4 * rng.standard_normal((C, C))
    b_attn, b_proj = (0.1 * rng.standard_normal(3 * C), 0.1 * rng.standard_normal(C)) if bias else (None, None)
    return x, w_attn, b_attn, w_proj, b_proj


def csa(impl, n_head, x, w_attn, b_attn, w_proj, b_proj):
    T = impl.tensor
    return impl.causal_self_attention(T(x), n_head, T(w_attn), None if b_attn is None else T(b_attn), T(w_proj),
                                      None if b_proj is None else T(b_proj))


@pytest.mark.parametrize("n_head", [1, 3, 4])
def test_causal_self_attention_matches_oracle(impl, n_head):
    case = csa_case()
    assert_close(as_array(impl, csa(impl, n_head, *case)), oracle.causal_self_attention(case[0], n_head, *case[1:]),
                 OP_RTOL, OP_ATOL,
                 f"causal_self_attention(n_head={n_head}) vs oracle: c_attn output holds q, k, v in that order along "
                 "the last dim; head h is the contiguous column range [h*hs, (h+1)*hs); heads are concatenated "
                 "back in order before c_proj")


@pytest.mark.parametrize("attn_bias, proj_bias", [(False, False), (False, True), (True, False)],
                         ids=["no_biases", "no_c_attn_bias", "no_c_proj_bias"])
def test_causal_self_attention_without_biases(impl, attn_bias, proj_bias):
    """Either bias may be None, independently of the other."""
    x, w_attn, b_attn, w_proj, b_proj = csa_case()
    case = (x, w_attn, b_attn if attn_bias else None, w_proj, b_proj if proj_bias else None)
    assert_close(as_array(impl, csa(impl, 3, *case)), oracle.causal_self_attention(case[0], 3, *case[1:]),
                 OP_RTOL, OP_ATOL, f"causal_self_attention with c_attn_bias={'given' if attn_bias else None} and "
                 f"c_proj_bias={'given' if proj_bias else None}")


def test_causal_self_attention_grads(impl):
    x, wa, ba, wp, bp = csa_case(B=2, T=4, C=6, seed=2)
    check_grads(impl, lambda *t: impl.causal_self_attention(t[0], 2, *t[1:]), [x, wa, ba, wp, bp],
                what="causal_self_attention gradients w.r.t. x, c_attn (weight, bias), c_proj (weight, bias)")


def test_causal_self_attention_is_causal(impl):
    x, *weights = csa_case(T=6, seed=3)
    base = as_array(impl, csa(impl, 3, x, *weights))
    for t in (1, 3, 5):
        x2 = x.copy()
        x2[:, t:] = np.random.default_rng(t).standard_normal(x2[:, t:].shape)
        moved = as_array(impl, csa(impl, 3, x2, *weights))
        assert_close(moved[:, :t], base[:, :t], 0, CAUSAL_ATOL,
                     f"self-attention outputs at positions < {t} after changing the input at positions >= {t}")
        assert not np.allclose(moved[:, t:], base[:, t:]), "changing the input at later positions must change them"


def test_causal_self_attention_float32(impl):
    case = [None if a is None else a.astype(np.float32) for a in csa_case()]
    got = as_array(impl, csa(impl, 3, *case))
    assert got.dtype == np.float32, f"causal_self_attention on float32 returned {got.dtype}"
    assert_close(got, oracle.causal_self_attention(case[0], 3, *case[1:]), F32_RTOL, F32_ATOL,
                 "float32 causal_self_attention vs oracle")
