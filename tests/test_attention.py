"""Reference unit tests for numgpt.attention: the fused ops against finite differences and against
attention composed from M1 primitives, masking semantics, the multi-head module, and the KV cache."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from numgpt.attention import (
    CausalSelfAttention, KVCache, attention_weights, causal_self_attention, scaled_dot_product_attention,
)
from numgpt.tensor import Tensor, gradcheck, no_grad
from tests.test_nn import assert_fused_matches_composed, composed_softmax

RNG = np.random.default_rng(99)


def composed_sdpa(q, k, v, causal=False, mask=None):
    """Attention from M1 primitives: scores, an additive -inf mask, composed softmax, weighted sum."""
    tq, tk = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(*range(k.ndim - 2), k.ndim - 1, k.ndim - 2)) * (1 / math.sqrt(q.shape[-1]))
    allowed = np.ones((tq, tk), dtype=bool) if mask is None else mask
    if causal:
        allowed = allowed & np.tri(tq, tk, k=tk - tq, dtype=bool)
    scores = scores + Tensor(np.where(allowed, 0.0, -np.inf))
    return composed_softmax(scores) @ v


def split_heads_composed(qkv, n_head):
    B, T, C3 = qkv.shape
    hs = C3 // 3 // n_head
    parts = [qkv[:, :, i * C3 // 3:(i + 1) * C3 // 3].reshape(B, T, n_head, hs).transpose(0, 2, 1, 3) for i in range(3)]
    return parts  # q, k, v (B, nh, T, hs)


def composed_causal_self_attention(qkv, n_head):
    q, k, v = split_heads_composed(qkv, n_head)
    y = composed_sdpa(q, k, v, causal=True)  # (B, nh, T, hs)
    B, nh, T, hs = y.shape
    return y.transpose(0, 2, 1, 3).reshape(B, T, nh * hs)


Q = RNG.standard_normal((2, 3, 4, 5))
K = RNG.standard_normal((2, 3, 6, 5))
V = RNG.standard_normal((2, 3, 6, 5))
MASK = RNG.random((4, 6)) > 0.4
MASK[:, 0] = True  # every row may attend to something (fully masked rows are tested separately)

SDPA_CASES = {
    "plain": dict(),
    "causal_tq_lt_tk": dict(causal=True),
    "explicit_mask": dict(mask=MASK),
    "mask_and_causal": dict(mask=MASK, causal=True),
}


@pytest.mark.parametrize("case", sorted(SDPA_CASES))
def test_sdpa_matches_composed_and_finite_differences(case):
    kw = SDPA_CASES[case]
    fused = lambda q, k, v: scaled_dot_product_attention(q, k, v, **kw)  # noqa: E731
    composed = lambda q, k, v: composed_sdpa(q, k, v, **kw)  # noqa: E731
    assert_fused_matches_composed(fused, composed, [Q, K, V])
    gradcheck(fused, [Q, K, V], rtol=1e-5, atol=1e-7)


def test_sdpa_square_causal_and_broadcast_leading_dims():
    q = RNG.standard_normal((2, 3, 4, 5))
    k = RNG.standard_normal((1, 4, 5))  # broadcast over the leading (2, 3)
    v = RNG.standard_normal((1, 4, 5))
    fused = lambda q, k, v: scaled_dot_product_attention(q, k, v, causal=True)  # noqa: E731
    assert_fused_matches_composed(fused, lambda q, k, v: composed_sdpa(q, k, v, causal=True), [q, k, v])
    gradcheck(fused, [q, k, v], rtol=1e-5, atol=1e-7)


def test_sdpa_dropout_gradcheck_and_determinism():
    fused = lambda q, k, v: scaled_dot_product_attention(q, k, v, dropout_p=0.3, rng=np.random.default_rng(5))  # noqa: E731
    gradcheck(fused, [Q, K, V], rtol=1e-5, atol=1e-7)
    a, b = (fused(Tensor(Q), Tensor(K), Tensor(V)).data for _ in range(2))
    np.testing.assert_array_equal(a, b)


def test_sdpa_errors():
    with pytest.raises(ValueError, match="do not fit"):
        scaled_dot_product_attention(Tensor(np.zeros((3, 4))), Tensor(np.zeros((3, 5))), Tensor(np.zeros((3, 5))))
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(*(Tensor(np.zeros((3, 4))),) * 3, mask=np.ones((3, 3)))
    with pytest.raises(ValueError, match="Tq <= Tk"):
        scaled_dot_product_attention(Tensor(np.zeros((4, 2))), Tensor(np.zeros((3, 2))), Tensor(np.zeros((3, 2))), causal=True)


# ----------------------------------------------------------------------------- fused multi-head node


@pytest.mark.parametrize("n_head", [1, 2, 3])
def test_fused_multihead_matches_composed(n_head):
    qkv = RNG.standard_normal((2, 5, 3 * 6))
    fused = lambda x: causal_self_attention(x, n_head)  # noqa: E731
    assert_fused_matches_composed(fused, lambda x: composed_causal_self_attention(x, n_head), [qkv])
    gradcheck(fused, [qkv], rtol=1e-5, atol=1e-7)


def test_fused_multihead_dropout_gradcheck():
    qkv = RNG.standard_normal((2, 4, 12))
    gradcheck(lambda x: causal_self_attention(x, 2, 0.25, np.random.default_rng(3)), [qkv], rtol=1e-5, atol=1e-7)


def test_fused_multihead_float32():
    qkv = Tensor(RNG.standard_normal((3, 7, 24)).astype(np.float32), requires_grad=True)
    y = causal_self_attention(qkv, 4)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert y.dtype == np.float32 and qkv.grad.dtype == np.float32 and y.shape == (3, 7, 8)


CFG = SimpleNamespace(n_embd=8, n_head=2, n_layer=2, dropout=0.0, bias=True, block_size=16)


def test_module_layout_and_head_order():
    """c_attn's output columns are [q | k | v], head h of q = columns [h*hs, (h+1)*hs)."""
    att = CausalSelfAttention(CFG, rng=np.random.default_rng(0), dtype=np.float64)
    assert [n for n, _ in att.named_parameters()] == ["c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"]
    assert att.c_attn.weight.shape == (8, 24) and att.c_proj.weight.shape == (8, 8)
    x = Tensor(RNG.standard_normal((2, 5, 8)))
    qkv = x.data @ att.c_attn.weight.data + att.c_attn.bias.data
    q, k, v = (qkv[..., i * 8:(i + 1) * 8].reshape(2, 5, 2, 4).transpose(0, 2, 1, 3) for i in range(3))
    y = np.empty((2, 2, 5, 4))
    for h in range(2):
        y[:, h] = attention_weights(q[:, h], k[:, h], causal=True) @ v[:, h]
    expected = y.transpose(0, 2, 1, 3).reshape(2, 5, 8) @ att.c_proj.weight.data + att.c_proj.bias.data
    np.testing.assert_allclose(att(x).data, expected, rtol=1e-12, atol=1e-14)


def test_module_with_cache_matches_full():
    att = CausalSelfAttention(CFG, rng=np.random.default_rng(1), dtype=np.float64)
    x = Tensor(RNG.standard_normal((2, 6, 8)))
    full = att(x).data
    cache = KVCache(1, 16)
    with no_grad():
        parts = [att(Tensor(x.data[:, :2]), cache[0]).data]
        parts += [att(Tensor(x.data[:, t:t + 1]), cache[0]).data for t in range(2, 6)]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, rtol=0, atol=1e-12)
    assert cache.length == 6


def test_kv_cache_bookkeeping_and_errors():
    cache = KVCache(2, 4)
    assert cache.length == 0 and len(cache) == 2
    k = np.ones((1, 2, 3, 5))
    K, V = cache[0].append(k, 2 * k)
    cache[1].append(k, k)
    assert K.shape == (1, 2, 3, 5) and cache.length == 3
    with pytest.raises(ValueError, match="full"):
        cache[0].append(k[:, :, :2], k[:, :, :2])
    with pytest.raises(ValueError, match="batch"):
        cache[0].append(np.ones((2, 2, 1, 5)), np.ones((2, 2, 1, 5)))
    cache.crop(1)
    assert cache.length == 1 and cache[1].length == 1
    with pytest.raises(ValueError, match="crop"):
        cache.crop(2)
    cache.reset()
    assert cache.length == 0
    K, V = cache[0].append(k[:, :, :1], 3 * k[:, :, :1])
    np.testing.assert_array_equal(V, 3)


def test_attention_dropout_follows_its_own_module_flag():
    from numgpt.transformer import GPTConfig

    cfg = GPTConfig(block_size=8, vocab_size=5, n_layer=1, n_head=2, n_embd=8, dropout=0.5)
    attn = CausalSelfAttention(cfg, rng=np.random.default_rng(0), dtype=np.float64, seed=(0,))
    x = Tensor(np.random.default_rng(1).standard_normal((2, 8, 8)))
    attn.resid_dropout.eval()
    attn.eval()
    plain = attn(x).data
    attn.train()
    attn.resid_dropout.eval()
    attn.attn_dropout.eval()  # the attention module trains, its dropout module does not: nothing dropped
    np.testing.assert_array_equal(attn(x).data, plain)
    attn.attn_dropout.train()
    assert not np.array_equal(attn(x).data, plain), "attn_dropout in train mode must drop attention weights"
