"""Scaled dot-product attention, causal self-attention, and the KV cache for decoding.

The math lives in two private kernels that work on plain NumPy arrays, so the general
``scaled_dot_product_attention`` op, the fused multi-head node used by ``CausalSelfAttention``,
and the cached decoding path all share one forward and one backward:

forward (per head; ``s = 1/sqrt(hs)``; ``M`` = 0 where attending is allowed, -inf elsewhere)::

    S = q @ k^T * s + M          # (..., Tq, Tk) scores
    A = softmax(S)               # masked entries exactly 0; a fully masked row is all 0, never NaN
    y = A @ v                    # (..., Tq, hs)

backward, given ``g = dL/dy``::

    dv = A^T @ g                 # (..., Tk, hs)
    dA = g @ v^T                 # (..., Tq, Tk)
    dS = A * (dA - sum(dA * A, -1))   # softmax backward (masked entries stay 0)
    dq = dS @ k * s,   dk = dS^T @ q * s

All of it is batched ``np.matmul`` over the leading dims: no Python loop over batch, heads or time.

Grouped-query attention (GQA): k and v may have ``n_kv_head`` heads, a divisor of the queries'
``n_head``; query head h uses kv head ``h // (n_head // n_kv_head)`` (Hugging Face's ``repeat_kv``
order; n_kv_head == n_head is multi-head, 1 is multi-query). The kv heads are repeated for the
kernels, and the backward sums each group's dk, dv back onto its kv head. The KV cache stores the
n_kv_head heads only.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..nn import Dropout, Linear, LinearT, Module
from ..nn.functional import check_dropout_p, softmax_, softmax_backward
from ..tensor import Tensor
from .rope import rope_tables, rotate

__all__ = [
    "scaled_dot_product_attention", "attention_weights", "causal_self_attention", "self_attention",
    "CausalSelfAttention", "KVCache", "LayerKVCache", "cached_attention", "cached_self_attention", "causal_bias",
    "kv_group_size", "LlamaAttention",
]


# ----------------------------------------------------------------------------- masks


@functools.lru_cache(maxsize=64)
def causal_bias(tq: int, tk: int, dtype: Any = np.float32) -> np.ndarray:
    """The additive causal mask ``(tq, tk)``: 0 where query i may see key j, -inf elsewhere.

    Query i sits at absolute position ``tk - tq + i`` (the last ``tq`` of ``tk`` positions, which is
    what decoding with a KV cache needs), so it may attend to keys ``j <= tk - tq + i``. Cached and
    read-only: built once per shape.
    """
    allowed = np.tri(tq, tk, k=tk - tq, dtype=bool)
    bias = np.where(allowed, 0.0, -np.inf).astype(dtype)
    bias.flags.writeable = False
    return bias


@functools.lru_cache(maxsize=64)
def _causal_bias_t(tq: int, tk: int, dtype: Any) -> np.ndarray:
    """``causal_bias(tq, tk).T`` stored contiguously (the kernels' transposed layout)."""
    bias_t = np.ascontiguousarray(causal_bias(tq, tk, dtype).T)
    bias_t.flags.writeable = False
    return bias_t


def _mask_bias_t(mask: Any, causal: bool, tq: int, tk: int, dtype: Any) -> np.ndarray | None:
    """Combine an explicit boolean mask (True = may attend) and/or causality into one additive bias,
    returned transposed, (..., Tk, Tq), as the kernels use it."""
    if mask is None:
        return _causal_bias_t(tq, tk, np.dtype(dtype)) if causal else None
    mask = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"attention mask must be a boolean array (True = may attend), got dtype {mask.dtype}")
    if mask.ndim < 2 or mask.shape[-2:] not in ((tq, tk), (1, tk), (tq, 1), (1, 1)):
        raise ValueError(f"attention mask of shape {mask.shape} does not broadcast to the scores' trailing dims ({tq}, {tk})")
    if causal:
        mask = mask & np.tri(tq, tk, k=tk - tq, dtype=bool)
    return np.where(np.swapaxes(mask, -1, -2), 0.0, -np.inf).astype(dtype)


# ----------------------------------------------------------------------------- shared kernels


def _t(x: np.ndarray) -> np.ndarray:
    """Swap the last two axes (a view)."""
    return np.swapaxes(x, -1, -2)


# The kernels keep the attention weights TRANSPOSED, At = A^T of shape (..., Tk, Tq): the softmax
# then reduces over axis -2, across rows, which NumPy vectorises (a max along a short contiguous
# last axis pays a per-row overhead, ~3x slower at T = 64). BLAS takes the transposes for free.


def _weights_t(q: np.ndarray, k: np.ndarray, bias_t: np.ndarray | None, prescaled: bool = False) -> np.ndarray:
    """Transposed attention weights ``softmax(q k^T / sqrt(hs) + bias)^T``, (..., Tk, Tq); ``bias_t``
    is the additive mask already transposed, (..., Tk, Tq). ``prescaled``: q already holds q / sqrt(hs)."""
    att_t = np.matmul(k, _t(q))  # (..., Tk, Tq) = S^T, a fresh array we own
    if not prescaled:
        att_t *= 1.0 / math.sqrt(q.shape[-1])
    if bias_t is not None:
        try:
            att_t += bias_t
        except ValueError:
            raise ValueError(f"attention mask of shape {_t(bias_t).shape} does not broadcast to the scores' shape "
                             f"{_t(att_t).shape}") from None
    return softmax_(att_t, axis=-2)  # normalise over the keys


def _attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, bias_t: np.ndarray | None, keep: np.ndarray | None,
            out: np.ndarray | None = None):
    """Forward kernel: ``y = dropout(softmax(q k^T s + M)) v``, (..., Tq, hs).

    ``keep`` is the pre-scaled dropout mask (..., Tq, Tk) or None. Returns ``(y, saved)``, where
    ``saved`` is what ``_attend_backward`` needs: ``q s`` (scaling q, (..., Tq, hs), is cheaper than
    scaling the (..., Tq, Tk) scores), k, v, the transposed weights ``At`` and the transposed weights
    actually applied to v (``At * keep^T``, or ``At`` itself without dropout). ``out``: where to
    write y (e.g. a head-merging view), or None.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    qs = q * scale  # (..., Tq, hs), ours
    att_t = _weights_t(qs, k, bias_t, prescaled=True)  # (..., Tk, Tq)
    att_d_t = att_t if keep is None else att_t * _t(keep)
    y = np.matmul(_t(att_d_t), v, out=out)  # A v  (..., Tq, hs)
    return y, (qs, k, v, att_t, att_d_t, keep, scale)


def _attend_backward(g: np.ndarray, saved: tuple, out: np.ndarray | None = None):
    """Backward kernel: ``(dq, dk, dv)`` given ``g = dL/dy`` (see the module docstring).

    ``out``, if given, is a (3, ..., T, hs) view the three gradients are written into directly
    (the fused multi-head node passes the head-split view of its (B, T, 3C) gradient)."""
    qs, k, v, att_t, att_d_t, keep, scale = saved
    dq, dk, dv = (None, None, None) if out is None else out
    dv = np.matmul(att_d_t, g, out=dv)  # A^T g  (..., Tk, hs)
    datt_t = np.matmul(v, _t(g))  # (g v^T)^T = dA^T  (..., Tk, Tq), ours
    if keep is not None:
        datt_t *= _t(keep)
    dscores_t = softmax_backward(datt_t, att_t, axis=-2, out=datt_t)  # dS^T
    dq = np.matmul(_t(dscores_t), k, out=dq)  # dS k  (..., Tq, hs)
    dq *= scale
    dk = np.matmul(dscores_t, qs, out=dk)  # dS^T q s  (..., Tk, hs)
    return dq, dk, dv


def _dropout_keep(shape: tuple[int, ...], p: float, rng: np.random.Generator | None, dtype: Any) -> np.ndarray | None:
    """The pre-scaled dropout mask (0 or 1/(1-p); all 0 for p == 1), or None when p == 0."""
    if p == 0:
        return None
    check_dropout_p(p, "attention dropout probability")
    rng = np.random.default_rng() if rng is None else rng
    keep = (rng.random(shape) >= p).astype(dtype)
    if p < 1:
        keep *= 1.0 / (1.0 - p)
    return keep


def kv_group_size(n_head: int, n_kv_head: int) -> int:
    """How many query heads share one kv head (``n_head // n_kv_head``); ValueError naming both
    counts when n_kv_head does not divide n_head."""
    if n_kv_head <= 0 or n_head % n_kv_head:
        raise ValueError(f"grouped-query attention needs n_kv_head dividing n_head, got n_head={n_head}, "
                         f"n_kv_head={n_kv_head}")
    return n_head // n_kv_head


def _repeat_kv(x: np.ndarray, group: int) -> np.ndarray:
    """(..., n_kv_head, T, hs) -> (..., n_head, T, hs): kv head j serves query heads j*group .. j*group+group-1."""
    return x if group == 1 else np.repeat(x, group, axis=-3)


def _sum_groups(d: np.ndarray, group: int) -> np.ndarray:
    """The backward of ``_repeat_kv``: sum the gradients of each group of query heads."""
    if group == 1:
        return d
    return d.reshape(*d.shape[:-3], d.shape[-3] // group, group, *d.shape[-2:]).sum(axis=-3)


# ----------------------------------------------------------------------------- public ops


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False, mask: Any = None,
                                 dropout_p: float = 0.0, rng: np.random.Generator | None = None) -> Tensor:
    """``softmax(q k^T / sqrt(hs) + mask) v`` as one fused graph node.

    Args:
        q: ``(..., Tq, hs)``; k, v: ``(..., Tk, hs)`` (leading dims broadcast). Grouped-query: q
            ``(B, n_head, Tq, hs)`` with k, v ``(B, n_kv_head, Tk, hs)``, n_kv_head dividing n_head
            (query head h uses kv head ``h // (n_head // n_kv_head)``).
        causal: query i may only attend to keys ``j <= Tk - Tq + i`` (with Tq == Tk: ``j <= i``;
            with Tq < Tk the queries are the last Tq positions, as when decoding with a cache).
        mask: optional boolean array broadcastable to ``(..., Tq, Tk)``, True = may attend; combined
            with ``causal`` by AND. Masked scores are -inf before the softmax; a row with nothing
            to attend to outputs zeros, never NaN.
        dropout_p, rng: dropout on the attention weights (inverted scaling), mask from ``rng``.

    Returns ``(..., Tq, hs)``. The backward is the hand-written one in this module's docstring.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {name} must have shape (..., T, head_size), got {t.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2:] != v.shape[-2:]:
        raise ValueError(
            f"scaled_dot_product_attention: shapes q {q.shape}, k {k.shape}, v {v.shape} do not fit: q and k need "
            f"the same head size (last dim), k and v the same (Tk, head_size)"
        )
    group = 1
    if q.ndim >= 3 and k.ndim >= 3 and k.shape[-3] not in (q.shape[-3], 1):
        group = kv_group_size(q.shape[-3], k.shape[-3])
    tq, tk = q.shape[-2], k.shape[-2]
    if causal and tq > tk:
        raise ValueError(f"causal attention needs Tq <= Tk (queries are the last Tq of Tk positions), got Tq={tq}, Tk={tk}")
    dtype = np.result_type(q.dtype, k.dtype, v.dtype)
    bias_t = _mask_bias_t(mask, causal, tq, tk, dtype)
    kr, vr = _repeat_kv(k.data, group), _repeat_kv(v.data, group)
    keep = None
    if dropout_p:
        lead = np.broadcast_shapes(q.shape[:-2], kr.shape[:-2])
        keep = _dropout_keep(lead + (tq, tk), dropout_p, rng, dtype)
    y, saved = _attend(q.data, kr, vr, bias_t, keep)

    def backward(g: np.ndarray):
        dq, dk, dv = _attend_backward(g, saved)
        return dq, _sum_groups(dk, group), _sum_groups(dv, group)

    return Tensor.from_op(y, (q, k, v), backward, "scaled_dot_product_attention")


def attention_weights(q: Any, k: Any, causal: bool = False, mask: Any = None) -> np.ndarray:
    """The attention weights (..., Tq, Tk) that ``scaled_dot_product_attention`` applies to ``v``
    (same kernel, no graph): for inspection and demos. Rows sum to 1 (0 for fully masked rows)."""
    q = q.data if isinstance(q, Tensor) else np.asarray(q)
    k = k.data if isinstance(k, Tensor) else np.asarray(k)
    tq, tk = q.shape[-2], k.shape[-2]
    return _t(_weights_t(q, k, _mask_bias_t(mask, causal, tq, tk, np.result_type(q.dtype, k.dtype))))


def _split_heads(qkv: np.ndarray, n_head: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, T, 3C) -> q, k, v each (B, nh, T, hs), as strided views (no copy)."""
    B, T, C3 = qkv.shape
    hs = C3 // (3 * n_head)
    heads = qkv.reshape(B, T, 3, n_head, hs).transpose(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
    return heads[0], heads[1], heads[2]


def causal_self_attention(qkv: Tensor, n_head: int, dropout_p: float = 0.0,
                          rng: np.random.Generator | None = None) -> Tensor:
    """Multi-head causal attention from the fused projection ``qkv`` (B, T, 3C) to merged heads (B, T, C).

    One graph node: heads are split by reshape/transpose views (q, k, v in that order along the
    last dim; head h of q is columns ``[h*hs, (h+1)*hs)``), attention runs batched over (B, nh),
    and the heads are merged back. The backward writes dq, dk, dv straight into one (B, T, 3C)
    gradient for ``qkv``.
    """
    if not isinstance(qkv, Tensor) or qkv.ndim != 3 or qkv.shape[-1] % (3 * n_head):
        raise ValueError(
            f"causal_self_attention expects qkv of shape (B, T, 3*n_embd) with n_embd divisible by "
            f"n_head={n_head}, got {getattr(qkv, 'shape', type(qkv).__name__)}"
        )
    B, T, C3 = qkv.shape
    q, k, v = _split_heads(qkv.data, n_head)  # (B, nh, T, hs) each
    keep = _dropout_keep((B, n_head, T, T), dropout_p, rng, qkv.dtype)
    y = np.empty((B, T, C3 // 3), dtype=qkv.dtype)  # heads merged: (B, T, nh, hs) viewed as (B, nh, T, hs)
    _, saved = _attend(q, k, v, _causal_bias_t(T, T, qkv.dtype), keep,
                       out=y.reshape(B, T, n_head, -1).transpose(0, 2, 1, 3))

    def backward(g: np.ndarray):
        nh, hs = n_head, C3 // (3 * n_head)
        gh = g.reshape(B, T, nh, hs).transpose(0, 2, 1, 3)  # (B, nh, T, hs) view
        dqkv = np.empty((B, T, 3, nh, hs), dtype=g.dtype)
        _attend_backward(gh, saved, out=dqkv.transpose(2, 0, 3, 1, 4))  # writes dq, dk, dv into dqkv
        return (dqkv.reshape(B, T, C3),)

    return Tensor.from_op(y, (qkv,), backward, "causal_self_attention")


def _heads(x: np.ndarray, n: int) -> np.ndarray:
    """(B, T, n*hs) -> (B, n, T, hs), a view."""
    B, T, C = x.shape
    return x.reshape(B, T, n, C // n).transpose(0, 2, 1, 3)


def _merge(x: np.ndarray) -> np.ndarray:
    """(B, n, T, hs) -> (B, T, n*hs), a new contiguous array."""
    B, n, T, hs = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, n * hs)


def _check_qkv(q: Any, k: Any, v: Any, n_head: int, n_kv_head: int) -> int:
    """Shapes of the per-projection inputs of ``self_attention``; returns the head size."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if getattr(t, "ndim", None) != 3:
            raise ValueError(f"self_attention: {name} must have shape (B, T, heads * head_size), got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    kv_group_size(n_head, n_kv_head)
    hs = q.shape[-1] // n_head
    if q.shape[-1] != n_head * hs or k.shape != v.shape or k.shape != (*q.shape[:2], n_kv_head * hs):
        raise ValueError(f"self_attention: q {q.shape}, k {k.shape}, v {v.shape} do not fit n_head={n_head}, "
                         f"n_kv_head={n_kv_head} (expected q (B, T, n_head*hs), k and v (B, T, n_kv_head*hs))")
    return hs


def self_attention(q: Tensor, k: Tensor, v: Tensor, n_head: int, n_kv_head: int | None = None,
                   positions: Any = None, theta: float = 10000.0, dropout_p: float = 0.0,
                   rng: np.random.Generator | None = None) -> Tensor:
    """Causal grouped-query self-attention with optional RoPE, from separate projections, as one node.

    Args:
        q: ``(B, T, n_head * hs)``; k, v: ``(B, T, n_kv_head * hs)`` (the outputs of q/k/v_proj).
        n_kv_head: None = n_head; must divide n_head (see the module docstring).
        positions: None for no rotary embedding, else the absolute positions (T,) of the tokens:
            q and k (not v) are rotated after the head split (``numgpt.attention.rope``).
        dropout_p, rng: dropout on the attention weights.

    Returns the merged heads ``(B, T, n_head * hs)``. Backward: the attention kernel's, then the kv
    groups summed and the rotation undone (rotation by -angle) on dq and dk.
    """
    n_kv_head = n_head if n_kv_head is None else n_kv_head
    hs = _check_qkv(q, k, v, n_head, n_kv_head)
    group = n_head // n_kv_head
    B, T, _ = q.shape
    qh, kh, vh = _heads(q.data, n_head), _heads(k.data, n_kv_head), _heads(v.data, n_kv_head)
    rope = None if positions is None else rope_tables(positions, hs, theta, q.dtype)
    if rope is not None:
        qh, kh = rotate(qh, *rope), rotate(kh, *rope)
    keep = _dropout_keep((B, n_head, T, T), dropout_p, rng, q.dtype)
    y = np.empty((B, T, n_head * hs), dtype=q.dtype)
    _, saved = _attend(qh, _repeat_kv(kh, group), _repeat_kv(vh, group), _causal_bias_t(T, T, q.dtype), keep,
                       out=_heads(y, n_head))

    def backward(g: np.ndarray):
        dq, dk, dv = _attend_backward(_heads(g, n_head), saved)
        dk, dv = _sum_groups(dk, group), _sum_groups(dv, group)
        if rope is not None:
            cos, sin = rope
            dq, dk = rotate(dq, cos, -sin), rotate(dk, cos, -sin)
        return _merge(dq), _merge(dk), _merge(dv)

    return Tensor.from_op(y, (q, k, v), backward, "self_attention")


# ----------------------------------------------------------------------------- KV cache


class LayerKVCache:
    """One layer's cached keys and values, each ``(B, n_kv_head, capacity, head_size)``.

    Buffers are allocated on the first ``append`` (batch size, heads, head size and dtype are taken
    from that first call); ``length`` positions are filled.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.length = 0
        self.k: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def append(self, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Store ``k``, ``v`` (B, nh, T_new, hs) after the cached positions; return views of all
        ``length`` cached keys and values (B, nh, length, hs)."""
        B, nh, t_new, hs = k.shape
        if self.k is None:
            self.k = np.empty((B, nh, self.capacity, hs), dtype=k.dtype)
            self.v = np.empty_like(self.k)
        elif (B, nh, hs, k.dtype) != (self.k.shape[0], self.k.shape[1], self.k.shape[3], self.k.dtype):
            raise ValueError(
                f"KV cache holds batch {self.k.shape[0]}, {self.k.shape[1]} heads of size {self.k.shape[3]} "
                f"({self.k.dtype}), but got keys of shape {k.shape} ({k.dtype}); use a new KVCache for a "
                f"different batch size or model dtype"
            )
        end = self.length + t_new
        if end > self.capacity:
            raise ValueError(
                f"KV cache is full: {self.length} cached + {t_new} new positions exceed its capacity "
                f"{self.capacity} (the model's block_size); crop() or reset() it and re-feed the cropped context"
            )
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


def cached_attention(qkv: np.ndarray, n_head: int, cache: LayerKVCache, n_kv_head: int | None = None) -> np.ndarray:
    """Multi-head causal attention for the T new positions of a decoding step, over the cache.

    ``qkv`` (B, T, 3C) is ``c_attn`` of the new positions only (plain array, no graph). Their
    keys and values are appended to ``cache``; the queries then attend over all L cached
    positions (B, nh, L, hs), query i sitting at absolute position ``L - T + i``. Returns the
    merged heads (B, T, C). The usual step has T = 1: one query that may see every cached
    position, so there is no mask at all, just ``softmax(q K^T / sqrt(hs)) V``: two small batched
    matmuls over the cache and numgpt's one softmax. Several new positions (a prompt) go through
    the training kernel ``_attend`` with the causal mask. With ``n_kv_head``, qkv is
    (B, T, (n_head + 2 n_kv_head) hs): [q | k | v] with n_head, n_kv_head, n_kv_head heads.
    """
    n_kv_head = n_head if n_kv_head is None else n_kv_head
    hs = qkv.shape[-1] // (n_head + 2 * n_kv_head)
    cq, ckv = n_head * hs, n_kv_head * hs
    return cached_self_attention(qkv[..., :cq], qkv[..., cq:cq + ckv], qkv[..., cq + ckv:], n_head, n_kv_head, cache)


def cached_self_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, n_head: int, n_kv_head: int,
                          cache: LayerKVCache, theta: float | None = None) -> np.ndarray:
    """``self_attention`` for the T new positions of a decoding step, over the cache (plain arrays).

    q (B, T, n_head*hs), k and v (B, T, n_kv_head*hs) of the new positions only; they sit at
    absolute positions ``L0 .. L0+T-1`` (L0 = ``cache.length`` before the call). With ``theta``
    (RoPE), q and k are rotated at those positions; the (rotated) keys and the values are appended
    to the cache, which holds n_kv_head heads. Returns the merged heads (B, T, n_head*hs).
    """
    hs = _check_qkv(q, k, v, n_head, n_kv_head)
    group = n_head // n_kv_head
    B, T, _ = q.shape
    qh, kh, vh = _heads(q, n_head), _heads(k, n_kv_head), _heads(v, n_kv_head)
    if theta is not None:
        rope = rope_tables(np.arange(cache.length, cache.length + T), hs, theta, q.dtype)
        qh, kh = rotate(qh, *rope), rotate(kh, *rope)
    K, V = cache.append(kh, vh)  # (B, nkv, L, hs), L = positions so far, written in place
    if T == 1:  # one query per head: group the query heads of each kv head, no repeat of K, V
        qg = qh.reshape(B, n_kv_head, group, hs)  # query head h = j * group + r -> (j, r)
        att = np.matmul(qg, _t(K))  # (B, nkv, group, L) scores
        att *= 1.0 / math.sqrt(hs)
        softmax_(att, axis=-1)
        return np.matmul(att, V).reshape(B, 1, n_head * hs)  # (B, nkv, group, hs) is (B, 1, nh*hs) in memory
    y = np.empty((B, T, n_head * hs), dtype=q.dtype)
    bias_t = _causal_bias_t(T, K.shape[2], q.dtype)  # query i at absolute position L - T + i
    _attend(qh, _repeat_kv(K, group), _repeat_kv(V, group), bias_t, None, out=_heads(y, n_head))
    return y


class KVCache:
    """Cached keys/values of every layer, for incremental (token-by-token) decoding.

    Create one per generation run, sized for the model::

        cache = KVCache.for_model(model)          # n_layer slots, capacity = block_size
        with no_grad():
            logits, _ = model(prompt_ids, kv_cache=cache)        # (B, T0, V); cache.length == T0
            nxt = sample(logits.data[:, -1])                      # (B, 1)
            logits, _ = model(nxt, kv_cache=cache)               # (B, 1, V); cache.length == T0 + 1

    Positions: ``cache.length`` is the number of positions already stored, so the next tokens fed
    get positions ``length, length + 1, ...`` (their position embeddings and causal mask use these
    absolute positions). Each forward with the cache advances ``length`` by the number of tokens
    fed. The logits equal those of recomputing the whole sequence without a cache (to rounding).

    Capacity: at most ``block_size`` positions fit (learned positions end there; a RoPE model was
    trained on that many and the window keeps it there too). When
    ``length + T_new`` would exceed it, the forward raises a ValueError. To continue past
    ``block_size``, ``reset()`` and re-feed a cropped context: the last ``block_size`` tokens (what
    nanoGPT recomputes every step; the cache is then full again and must be re-filled at every
    step), or a shorter one that leaves room for the next tokens (the sampler's default keeps the
    last ``block_size // 2 + 1`` tokens, then decodes ``block_size // 2 - 1`` 1-token steps before
    the next re-fill; see numgpt.sampling.generate).

    ``reset()`` empties every layer (keeping its buffers); ``crop(n)`` keeps the first ``n``
    positions (e.g. to rewind). ``cache[i]`` is layer i's ``LayerKVCache``, which the model passes
    to block i's attention. Inference only: the model runs a cached forward under ``no_grad``.
    """

    def __init__(self, n_layer: int, capacity: int):
        if n_layer <= 0 or capacity <= 0:
            raise ValueError(f"KVCache needs n_layer > 0 and capacity > 0, got {n_layer} and {capacity}")
        self.capacity = capacity
        self.layers = [LayerKVCache(capacity) for _ in range(n_layer)]

    @classmethod
    def for_model(cls, model: Any) -> "KVCache":
        """A cache with one slot per layer of ``model`` and capacity ``model.config.block_size``."""
        return cls(model.config.n_layer, model.config.block_size)

    @property
    def length(self) -> int:
        """Number of cached positions (= absolute position of the next token fed)."""
        return self.layers[0].length

    def __getitem__(self, i: int) -> LayerKVCache:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def reset(self) -> None:
        """Forget all cached positions (buffers are kept for reuse)."""
        self.crop(0)

    def crop(self, n: int) -> None:
        """Keep only the first ``n`` cached positions (0 <= n <= length)."""
        if not 0 <= n <= self.length:
            raise ValueError(f"crop({n}): the cache holds {self.length} positions")
        for layer in self.layers:
            layer.length = n

    def __repr__(self) -> str:
        return f"KVCache(n_layer={len(self.layers)}, length={self.length}, capacity={self.capacity})"


# ----------------------------------------------------------------------------- module


class CausalSelfAttention(Module):
    """Multi-head causal self-attention with a combined q/k/v projection (GPT-2 layout).

    ``c_attn``: Linear(n_embd, 3 n_embd), output columns are [q | k | v], each split into heads
    contiguously (head h of q is columns ``[h*hs, (h+1)*hs)``). ``c_proj``: Linear(n_embd, n_embd),
    initialised with std 0.02/sqrt(2 n_layer) (GPT-2's residual scaling). Dropout on the attention
    weights and on the output. ``config``: a ``GPTConfig`` (or anything with its fields), which has
    checked that ``n_embd`` is a multiple of ``n_head``. With ``config.n_kv_head`` < n_head
    (grouped-query), ``c_attn`` has ``(n_head + 2 n_kv_head) hs`` output columns [q | k | v].
    """

    def __init__(self, config: Any, rng: np.random.Generator | None = None, dtype: Any = np.float32,
                 seed: Any = None):
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.n_kv_head = getattr(config, "n_kv_head", None) or config.n_head
        hs = config.n_embd // config.n_head
        self.c_attn = Linear(config.n_embd, (self.n_head + 2 * self.n_kv_head) * hs, bias=config.bias, dtype=dtype,
                             rng=rng)
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias, dtype=dtype, rng=rng,
                             std=0.02 / math.sqrt(2 * config.n_layer))
        base = () if seed is None else tuple(np.atleast_1d(seed))
        self.attn_dropout = Dropout(config.dropout, seed=None if seed is None else base + (0,))
        self.resid_dropout = Dropout(config.dropout, seed=None if seed is None else base + (1,))

    def forward(self, x: Tensor, cache: LayerKVCache | None = None) -> Tensor:
        """x (B, T, C) -> (B, T, C). With ``cache``, x holds only the new positions (see KVCache)."""
        qkv = self.c_attn(x)  # (B, T, 3C), or (B, T, C + 2 n_kv_head hs) grouped
        if cache is None:
            # the mask is drawn inside the fused kernel, from this module's generator, under its own flag
            p = self.attn_dropout.p if self.attn_dropout.training else 0.0
            if self.n_kv_head == self.n_head:
                y = causal_self_attention(qkv, self.n_head, p, self.attn_dropout.rng)  # (B, T, C)
            else:
                ckv = self.n_kv_head * (self.n_embd // self.n_head)
                q, k, v = qkv[..., :self.n_embd], qkv[..., self.n_embd:self.n_embd + ckv], qkv[..., self.n_embd + ckv:]
                y = self_attention(q, k, v, self.n_head, self.n_kv_head, dropout_p=p, rng=self.attn_dropout.rng)
        else:
            y = Tensor(cached_attention(qkv.data, self.n_head, cache, self.n_kv_head))  # (B, T, C), no graph
        return self.resid_dropout(self.c_proj(y))


class LlamaAttention(Module):
    """Grouped-query causal self-attention with rotary positions, Hugging Face Llama layout.

    ``q_proj``: LinearT(n_embd, n_head hs); ``k_proj``, ``v_proj``: LinearT(n_embd, n_kv_head hs);
    ``o_proj``: LinearT(n_head hs, n_embd), init std 0.02/sqrt(2 n_layer). Weights are ``(out, in)``
    as in HF checkpoints (q/k rows in Meta's interleaved RoPE order: see ``numgpt.attention.rope``).
    Forward on x (B, T, C) at positions ``start .. start+T-1`` (``start`` = the cache length when
    decoding with ``cache``, else 0). ``config``: a ``GPTConfig`` (n_head, n_kv_head, rope_theta, bias).
    """

    def __init__(self, config: Any, rng: np.random.Generator | None = None, dtype: Any = np.float32,
                 seed: Any = None):
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.n_kv_head = getattr(config, "n_kv_head", None) or config.n_head
        kv_group_size(self.n_head, self.n_kv_head)
        self.theta = float(config.rope_theta)
        hs = config.n_embd // config.n_head
        C, bias = config.n_embd, config.bias
        self.q_proj = LinearT(C, self.n_head * hs, bias=bias, dtype=dtype, rng=rng)
        self.k_proj = LinearT(C, self.n_kv_head * hs, bias=bias, dtype=dtype, rng=rng)
        self.v_proj = LinearT(C, self.n_kv_head * hs, bias=bias, dtype=dtype, rng=rng)
        self.o_proj = LinearT(self.n_head * hs, C, bias=bias, dtype=dtype, rng=rng,
                              std=0.02 / math.sqrt(2 * config.n_layer))
        base = () if seed is None else tuple(np.atleast_1d(seed))
        self.attn_dropout = Dropout(config.dropout, seed=None if seed is None else base + (0,))
        self.resid_dropout = Dropout(config.dropout, seed=None if seed is None else base + (1,))

    def forward(self, x: Tensor, cache: LayerKVCache | None = None) -> Tensor:
        """x (B, T, C) -> (B, T, C). With ``cache``, x holds only the new positions (see KVCache)."""
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # (B, T, nh hs), (B, T, nkv hs) x 2
        if cache is None:
            p = self.attn_dropout.p if self.attn_dropout.training else 0.0
            y = self_attention(q, k, v, self.n_head, self.n_kv_head, positions=np.arange(x.shape[1]),
                               theta=self.theta, dropout_p=p, rng=self.attn_dropout.rng)
        else:
            y = Tensor(cached_self_attention(q.data, k.data, v.data, self.n_head, self.n_kv_head, cache, self.theta))
        return self.resid_dropout(self.o_proj(y))
