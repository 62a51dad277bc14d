"""Reference tests for RoPE and grouped-query attention in numgpt.attention: float64 oracles and
gradchecks, the relative-position property, GQA == MHA with repeated kv heads, the HF layout maps,
and cached decoding == the full forward."""
from __future__ import annotations

import numpy as np
import pytest
from numgpt.attention import (
    LayerKVCache,
    apply_rope,
    causal_self_attention,
    hf_to_interleaved_rows,
    interleaved_to_hf_rows,
    scaled_dot_product_attention,
    self_attention,
)
from numgpt.attention.attention import cached_self_attention
from numgpt.tensor import Tensor, gradcheck

RNG = np.random.default_rng(5)


def rope_oracle(x, positions, theta=10000.0):
    """Meta's formula, one pair at a time, in float64."""
    out = np.array(x, dtype=np.float64)
    hs = x.shape[-1]
    for t, p in enumerate(positions):
        for i in range(hs // 2):
            ang = p * theta ** (-2 * i / hs)
            a, b = x[..., t, 2 * i], x[..., t, 2 * i + 1]
            out[..., t, 2 * i] = a * np.cos(ang) - b * np.sin(ang)
            out[..., t, 2 * i + 1] = a * np.sin(ang) + b * np.cos(ang)
    return out


def test_rope_matches_the_formula_on_arrays_and_tensors():
    x = RNG.standard_normal((2, 3, 5, 8))
    pos = np.array([0, 3, 4, 9, 100])
    for theta in (10000.0, 7.0):
        want = rope_oracle(x, pos, theta)
        np.testing.assert_allclose(apply_rope(x, pos, theta), want, atol=1e-12)
        out = apply_rope(Tensor(x), pos, theta)
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.data, want, atol=1e-12)
    assert apply_rope(x.astype(np.float32), pos).dtype == np.float32


def test_rope_gradcheck():
    pos = np.array([2, 0, 5])
    gradcheck(lambda x: apply_rope(x, pos, 50.0), [RNG.standard_normal((2, 2, 3, 6))])


def test_rope_scores_depend_on_relative_position_only():
    q, k = RNG.standard_normal((1, 1, 1, 16)), RNG.standard_normal((1, 1, 1, 16))
    def score(i, j):
        return float((apply_rope(q, np.array([i])) * apply_rope(k, np.array([j]))).sum())
    np.testing.assert_allclose(score(7, 3), score(104, 100), rtol=1e-10)
    np.testing.assert_allclose(score(0, 0), float((q * k).sum()), rtol=1e-12)
    assert abs(score(7, 3) - score(7, 4)) > 1e-6


def test_rope_bad_input_is_named():
    with pytest.raises(ValueError, match="head_size=5"):
        apply_rope(RNG.standard_normal((1, 1, 3, 5)), np.arange(3))
    with pytest.raises(ValueError, match="positions must have shape"):
        apply_rope(RNG.standard_normal((1, 1, 3, 4)), np.arange(4))


def rotate_half_rope(x, positions, theta=10000.0):
    """Hugging Face's layout: pairs (x[i], x[i + hs/2]); the oracle for the row maps."""
    hs = x.shape[-1]
    ang = np.asarray(positions)[:, None] * theta ** (-np.arange(0, hs, 2) / hs)
    cos, sin = np.concatenate([np.cos(ang)] * 2, -1), np.concatenate([np.sin(ang)] * 2, -1)
    rot = np.concatenate([-x[..., hs // 2:], x[..., :hs // 2]], -1)
    return x * cos + rot * sin


def test_hf_row_maps_are_inverses_and_turn_rotate_half_into_interleaved():
    nh, hs, C, T = 2, 8, 6, 5
    w_hf = RNG.standard_normal((nh * hs, C))
    w_int = hf_to_interleaved_rows(w_hf, nh, hs)
    np.testing.assert_array_equal(interleaved_to_hf_rows(w_int, nh, hs), w_hf)
    assert not np.array_equal(w_int, w_hf)
    x, pos = RNG.standard_normal((T, C)), np.arange(T)
    heads = lambda y: y.reshape(T, nh, hs).transpose(1, 0, 2)  # (nh, T, hs)
    q_hf = rotate_half_rope(heads(x @ w_hf.T), pos)
    q_int = apply_rope(heads(x @ w_int.T), pos)
    np.testing.assert_allclose(hf_to_interleaved_rows(q_hf.transpose(0, 2, 1).reshape(nh * hs, T), nh, hs),
                               q_int.transpose(0, 2, 1).reshape(nh * hs, T), atol=1e-12)


def test_gqa_equals_mha_with_repeated_kv_heads():
    B, nh, nkv, T, hs = 2, 6, 2, 4, 3
    q, k, v = RNG.standard_normal((B, nh, T, hs)), RNG.standard_normal((B, nkv, T, hs)), RNG.standard_normal((B, nkv, T, hs))
    r = RNG.standard_normal((B, nh, T, hs))
    leaves = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    out = scaled_dot_product_attention(*leaves, causal=True)
    (out * Tensor(r)).sum().backward()
    rep = [Tensor(q, requires_grad=True)] + [Tensor(np.repeat(a, nh // nkv, axis=1), requires_grad=True) for a in (k, v)]
    ref = scaled_dot_product_attention(*rep, causal=True)
    (ref * Tensor(r)).sum().backward()
    np.testing.assert_allclose(out.data, ref.data, atol=1e-12)
    np.testing.assert_allclose(leaves[0].grad, rep[0].grad, atol=1e-12)
    for leaf, big in zip(leaves[1:], rep[1:]):  # query head h used kv head h // 3
        np.testing.assert_allclose(leaf.grad, big.grad.reshape(B, nkv, nh // nkv, T, hs).sum(2), atol=1e-12)


def test_gqa_count_that_does_not_divide_is_named():
    q, k = Tensor(RNG.standard_normal((1, 6, 2, 4))), Tensor(RNG.standard_normal((1, 4, 2, 4)))
    with pytest.raises(ValueError, match="n_head=6, n_kv_head=4"):
        scaled_dot_product_attention(q, k, k, causal=True)


def test_self_attention_without_rope_is_causal_self_attention():
    B, T, C, nh = 2, 5, 12, 3
    qkv = RNG.standard_normal((B, T, 3 * C))
    want = causal_self_attention(Tensor(qkv), nh).data
    got = self_attention(Tensor(qkv[..., :C]), Tensor(qkv[..., C:2 * C]), Tensor(qkv[..., 2 * C:]), nh).data
    np.testing.assert_allclose(got, want, atol=1e-12)


def _split(B=1, T=4, nh=4, nkv=2, hs=4):
    return [RNG.standard_normal((B, T, n * hs)) for n in (nh, nkv, nkv)]


def test_self_attention_rope_gqa_gradcheck_and_composed():
    q, k, v = _split()
    pos = np.arange(4)
    fused = lambda q, k, v: self_attention(q, k, v, 4, 2, positions=pos, theta=100.0)
    gradcheck(fused, [q, k, v], rtol=1e-5, atol=1e-7)

    def composed(q, k, v):
        h = lambda x, n: x.reshape(1, 4, n, 4).transpose(0, 2, 1, 3)
        y = scaled_dot_product_attention(apply_rope(h(q, 4), pos, 100.0), apply_rope(h(k, 2), pos, 100.0), h(v, 2),
                                         causal=True)
        return y.transpose(0, 2, 1, 3).reshape(1, 4, 16)
    np.testing.assert_allclose(fused(*map(Tensor, (q, k, v))).data, composed(*map(Tensor, (q, k, v))).data, atol=1e-12)


@pytest.mark.parametrize("nkv", [1, 2, 4])
def test_cached_decoding_equals_the_full_forward(nkv):
    q, k, v = _split(B=2, T=6, nkv=nkv)
    want = self_attention(*map(Tensor, (q, k, v)), 4, nkv, positions=np.arange(6), theta=500.0).data
    cache = LayerKVCache(8)
    steps = [cached_self_attention(q[:, :3], k[:, :3], v[:, :3], 4, nkv, cache, 500.0)]
    for t in range(3, 6):
        steps.append(cached_self_attention(q[:, t:t + 1], k[:, t:t + 1], v[:, t:t + 1], 4, nkv, cache, 500.0))
    assert cache.k.shape == (2, nkv, 8, 4)  # the cache holds n_kv_head heads
    np.testing.assert_allclose(np.concatenate(steps, axis=1), want, atol=1e-12)
