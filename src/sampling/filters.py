"""Logit filters: turn a model's next-token logits into the distribution we sample from.

Everything here is plain NumPy on arrays of shape ``(V,)`` or ``(B, V)`` (one row per sequence),
computed in float64. The pipeline, in this order::

    logits (.., V)
      -> / temperature              temperature 0 short-circuits to greedy: one-hot at the argmax
      -> top-k                      keep exactly the k highest logits, the rest become -inf
      -> softmax                    (numgpt.nn.functional.softmax_, numgpt's one stable softmax)
      -> top-p (nucleus)            keep the smallest set of most probable tokens whose total
                                    probability reaches p (always >= 1 token), renormalise
      = probs (.., V), rows sum to 1

Tie-breaking is deterministic everywhere: when logits (or probabilities) are equal, the token
with the LOWER id ranks first. So greedy picks the lowest id among the maxima, top-k with k=2 on
logits [1, 3, 3, 3] keeps ids 1 and 2, and top-p counts tied tokens in id order.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..nn.functional import softmax_


def validate_sampling_params(temperature: float, top_k: int | None = None, top_p: float | None = None) -> None:
    """Raise ``ValueError`` naming the parameter if one is out of range.

    temperature: a finite number >= 0 (0 means greedy); top_k: None or an integer >= 1;
    top_p: None or a number in (0, 1].
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.integer, np.floating)):
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
    if not math.isfinite(float(temperature)) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
            raise ValueError(f"top_k must be None or an integer >= 1, got {top_k!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 (it is how many tokens to keep), got {top_k}")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float, np.integer, np.floating)):
            raise ValueError(f"top_p must be None or a number in (0, 1], got {top_p!r}")
        if not (0.0 < float(top_p) <= 1.0):
            raise ValueError(f"top_p must be in (0, 1] (a probability mass to keep), got {top_p!r}")


def _as_logits(logits: Any) -> np.ndarray:
    """Logits as a float64 array of shape (V,) or (B, V); NaN or +inf is an error, -inf means 'never'."""
    x = np.asarray(getattr(logits, "data", logits))
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"logits must have shape (V,) or (B, V) with V >= 1, got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"logits must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    finite = np.isfinite(x)
    if not finite.all():  # -inf is allowed (a token that must never be drawn); NaN and +inf are not
        if np.isnan(x).any() or np.isposinf(x).any():
            raise ValueError("logits contain NaN or +inf (did the model diverge?)")
        if not finite.any(axis=-1).all():
            raise ValueError("a row of logits is all -inf: no token can be sampled")
    return x


def _rank_order(scores: np.ndarray) -> np.ndarray:
    """Token ids sorted by descending score along the last axis; equal scores: lower id first."""
    return np.argsort(-scores, axis=-1, kind="stable")


def greedy_probs(logits: Any) -> np.ndarray:
    """The temperature-0 distribution: one-hot at the argmax (lowest id among tied maxima)."""
    x = _as_logits(logits)
    probs = np.zeros_like(x)
    np.put_along_axis(probs, np.argmax(x, axis=-1)[..., None], 1.0, axis=-1)
    return probs


def top_k_mask(logits: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask (same shape) that is True for exactly ``min(k, V)`` highest logits per row.

    Ties at the boundary go to the lower token id, so exactly k tokens survive even when many
    logits are equal.
    """
    keep = np.zeros(logits.shape, dtype=bool)
    np.put_along_axis(keep, _rank_order(logits)[..., :k], True, axis=-1)
    return keep


def top_p_mask(probs: np.ndarray, p: float) -> np.ndarray:
    """Boolean mask of the nucleus: the smallest set of most probable tokens whose total reaches p.

    Walk the tokens from most to least probable (ties: lower id first), summing probabilities;
    keep every token up to AND INCLUDING the one whose running sum first reaches ``p``. At least
    one token is always kept. Tokens with probability 0 are never kept.
    """
    order = _rank_order(probs)                                  # (.., V)
    cumulative = np.cumsum(np.take_along_axis(probs, order, axis=-1), axis=-1)
    # tokens strictly before the crossing point, plus the crossing token itself
    n_keep = np.minimum(np.sum(cumulative < p, axis=-1) + 1, probs.shape[-1])  # (..,)
    keep_sorted = np.arange(probs.shape[-1]) < n_keep[..., None]
    keep = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return keep & (probs > 0)


def filter_logits(logits: Any, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> np.ndarray:
    """The sampling distribution for ``logits`` (shape (V,) or (B, V)) as float64 probabilities.

    Applies temperature, then top-k, then softmax, then top-p (see the module docstring).
    ``temperature=0`` returns the greedy one-hot distribution (top-k/top-p cannot change the
    argmax, which both always keep). ``top_k >= V`` and ``top_p = 1`` keep every token.
    """
    validate_sampling_params(temperature, top_k, top_p)
    if temperature == 0:
        return greedy_probs(logits)
    x = _as_logits(logits)  # a float64 copy, ours
    if temperature != 1:
        x /= float(temperature)
    if top_k is not None and top_k < x.shape[-1]:
        x = np.where(top_k_mask(x, int(top_k)), x, -np.inf)
    probs = softmax_(x, axis=-1)  # in place: x is a fresh array owned here
    if top_p is not None and top_p < 1.0:
        probs = np.where(top_p_mask(probs, float(top_p)), probs, 0.0)
        probs = probs / probs.sum(axis=-1, keepdims=True)
    return probs


def sample_from_probs(probs: np.ndarray, rng: np.random.Generator, size: int | None = None) -> Any:
    """Draw token ids from a 1-D distribution ``probs`` by inverting its CDF.

    One uniform ``u = rng.random(size)`` per draw; the token is the first id whose cumulative
    probability exceeds ``u * total`` (so a token of probability 0 is never drawn, and ``probs``
    need only be proportional to the distribution). Returns an ``int`` (size None) or an int64
    array of ``size`` draws.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"sample_from_probs expects a 1-D distribution, got shape {probs.shape}")
    cdf = np.cumsum(probs)
    total = cdf[-1]
    if not (np.isfinite(total) and total > 0) or (probs < 0).any():
        raise ValueError("probabilities must be non-negative with a positive finite sum")
    u = rng.random(size)
    if size is None:  # one draw (a decoding step): plain Python on the scalar
        return min(int(np.searchsorted(cdf, u * total, side="right")), probs.shape[0] - 1)
    return np.minimum(np.searchsorted(cdf, u * total, side="right"), probs.shape[0] - 1).astype(np.int64)


def sample_next(logits: Any, rng: np.random.Generator, temperature: float = 1.0,
                top_k: int | None = None, top_p: float | None = None) -> int:
    """One next-token id from 1-D ``logits``: greedy argmax at temperature 0 (draws no random
    number), otherwise a draw from ``filter_logits(...)``."""
    if temperature == 0:
        validate_sampling_params(temperature, top_k, top_p)
        return int(np.argmax(_as_logits(logits), axis=-1))
    return sample_from_probs(filter_logits(logits, temperature, top_k, top_p), rng)
