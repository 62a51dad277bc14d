"""Gradient clipping that always rescales to max_norm, even when the norm is already below it."""
import builtins
import math

import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "clip"


def clip_grad_norm(params, max_norm):
    grads = [p.grad for p in params if p.grad is not None]
    norm = math.sqrt(builtins.sum(float(np.sum(g * g)) for g in grads))  # the adapter's sum shadows the builtin
    for g in grads:
        g *= max_norm / (norm + 1e-6)
    return norm
