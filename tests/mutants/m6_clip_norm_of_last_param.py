"""Gradient clipping measures the norm of the last parameter's gradient only (the loop variable leaks)."""
import math

import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "clip"


def clip_grad_norm(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    for g in grads:
        sq = float(np.sum(g * g))
    norm = math.sqrt(sq)  # BUG: the sum over all parameters was meant
    if norm > max_norm:
        for g in grads:
            g *= max_norm / (norm + 1e-6)
    return norm
