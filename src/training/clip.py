"""Gradient clipping by global norm."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..tensor import Tensor


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``.

    The global norm is ``sqrt(sum over params of sum(grad**2))`` (each tensor's sum of squares is one BLAS dot).
    When it exceeds ``max_norm`` every gradient is multiplied in place by
    ``max_norm / (norm + 1e-6)`` (as ``torch.nn.utils.clip_grad_norm_``), so the direction is
    kept and the new norm is ``max_norm`` up to that 1e-6; otherwise nothing changes.
    Parameters without a gradient are skipped. A non-finite norm is returned as is and nothing
    is scaled (the caller decides what to do about a NaN/inf gradient).

    Returns the norm *before* clipping (the number worth logging).
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    grads = [p.grad for p in params if p.grad is not None]
    total = 0.0
    for g in grads:
        flat = g.reshape(-1)
        total += float(np.dot(flat, flat))
    norm = math.sqrt(total)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g *= scale
    return norm
