"""Rotary position embeddings (RoPE), Meta Llama's interleaved pairing.

The head dim of size hs is split into hs/2 pairs ``(x[..., 2i], x[..., 2i+1])``; the pair of a token
at absolute position p is rotated by the angle ``p * theta^(-2i/hs)`` (theta default 10000)::

    (a, b) -> (a cos - b sin, a sin + b cos)

It is applied to the queries and keys (never the values) after the head split, before the scores,
so a score ``q_i . k_j`` depends on the positions only through ``i - j``. The inverse (and the
backward, a rotation being orthogonal) is the rotation by ``-angle``. When decoding with a KV
cache the new tokens get positions ``cache.length, ...``; the cache stores rotated keys.

Hugging Face checkpoints use the half-split "rotate_half" layout instead: the pairs are
``(x[i], x[i + hs/2])`` with the same frequency ``theta^(-2i/hs)``, and HF's conversion script
permutes the rows of each head of ``q_proj`` / ``k_proj`` to match. ``hf_to_interleaved_rows`` undoes
that permutation (a loader applies it to q_proj and k_proj, then uses ``apply_rope``);
``interleaved_to_hf_rows`` is its exact inverse. Scores are identical either way.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..tensor import Tensor

__all__ = ["apply_rope", "rope_tables", "rotate", "hf_to_interleaved_rows", "interleaved_to_hf_rows"]


def _check_head_size(hs: int) -> None:
    if hs % 2:
        raise ValueError(f"RoPE rotates pairs of dims, so the head size must be even, got head_size={hs}")


@functools.lru_cache(maxsize=32)
def _table(n: int, hs: int, theta: float, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Read-only ``(cos, sin)``, each (n, hs/2), for positions 0 .. n-1 (computed in float64)."""
    inv_freq = theta ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)  # (hs/2,) theta^(-2i/hs)
    angle = np.arange(n, dtype=np.float64)[:, None] * inv_freq  # (n, hs/2)
    cos, sin = np.cos(angle).astype(dtype), np.sin(angle).astype(dtype)
    cos.flags.writeable = sin.flags.writeable = False
    return cos, sin


def rope_tables(positions: Any, hs: int, theta: float = 10000.0, dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``(cos, sin)`` of the rotation angles, each (T, hs/2), for integer ``positions`` (T,) >= 0.

    Built from a cached table for positions 0 .. 2^k - 1 (k just large enough), so training and
    decoding steps reuse it."""
    _check_head_size(hs)
    if not float(theta) > 0:
        raise ValueError(f"RoPE theta must be positive, got {theta!r}")
    pos = np.asarray(positions)
    if pos.ndim != 1 or pos.dtype.kind not in "iu":
        raise ValueError(f"RoPE positions must be a 1-D integer array (T,), got shape {pos.shape}, dtype {pos.dtype}")
    if pos.size and pos.min() < 0:
        raise ValueError(f"RoPE positions must be >= 0, got {int(pos.min())}")
    n = 1 << int(pos.max() if pos.size else 0).bit_length()
    cos, sin = _table(n, hs, float(theta), np.dtype(dtype))
    if pos.size and np.all(np.diff(pos) == 1):  # a range: slice, no gather
        return cos[pos[0]:pos[0] + pos.size], sin[pos[0]:pos[0] + pos.size]
    return cos[pos], sin[pos]


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate the interleaved pairs of ``x`` (..., T, hs) by the angles ``(cos, sin)`` (T, hs/2); a new
    array. ``rotate(x, cos, -sin)`` is the inverse rotation (the backward)."""
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty(x.shape, dtype=np.result_type(x.dtype, cos.dtype))
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def apply_rope(x: Tensor | np.ndarray, positions: Any, theta: float = 10000.0) -> Tensor | np.ndarray:
    """Rotary embedding of ``x`` (..., T, hs) (e.g. (B, n_head, T, hs)) at ``positions`` (T,).

    Returns the same type and shape: an ndarray for an ndarray, a Tensor (one graph node whose
    backward rotates ``g`` by the negative angles) for a Tensor. Odd hs, or positions whose
    length is not T, raise ValueError.
    """
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype.kind != "f" or data.ndim < 2:
        raise ValueError(f"apply_rope expects a floating-point x of shape (..., T, head_size), got shape "
                         f"{data.shape}, dtype {data.dtype}")
    T, hs = data.shape[-2:]
    _check_head_size(hs)
    pos = np.asarray(positions)
    if pos.shape != (T,):
        raise ValueError(f"apply_rope: positions must have shape (T,) = ({T},) to match x of shape {data.shape}, "
                         f"got {pos.shape}")
    cos, sin = rope_tables(pos, hs, theta, data.dtype)
    out = rotate(data, cos, sin)
    if not isinstance(x, Tensor):
        return out
    return Tensor.from_op(out, (x,), lambda g: (rotate(g, cos, -sin),), "rope")


def _check_rows(w: np.ndarray, n_heads: int, head_size: int) -> np.ndarray:
    w = np.asarray(w)
    _check_head_size(head_size)
    if w.ndim != 2 or w.shape[0] != n_heads * head_size:
        raise ValueError(f"expected a projection weight of shape (n_heads * head_size, in) = "
                         f"({n_heads * head_size}, in), got {w.shape}")
    return w


def hf_to_interleaved_rows(w: np.ndarray, n_heads: int, head_size: int) -> np.ndarray:
    """Permute the rows of a Hugging Face ``q_proj`` / ``k_proj`` weight (out, in) from the rotate_half
    layout (within a head, row i pairs with row i + hs/2) to Meta's interleaved one (row 2i with 2i+1)."""
    w = _check_rows(w, n_heads, head_size)
    return w.reshape(n_heads, 2, head_size // 2, -1).transpose(0, 2, 1, 3).reshape(w.shape)


def interleaved_to_hf_rows(w: np.ndarray, n_heads: int, head_size: int) -> np.ndarray:
    """The inverse of ``hf_to_interleaved_rows`` (HF's ``permute`` in convert_llama_weights_to_hf)."""
    w = _check_rows(w, n_heads, head_size)
    return w.reshape(n_heads, head_size // 2, 2, -1).transpose(0, 2, 1, 3).reshape(w.shape)
