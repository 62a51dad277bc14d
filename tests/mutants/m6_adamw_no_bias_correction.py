"""AdamW without bias correction: uses m and v directly, so early steps are ~3x too large."""
import numpy as np

from numgpt.training.optim import AdamW, param_groups
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "adamw"


class NoBiasCorrection(AdamW):
    def _update(self, group, p, g, state, tmp):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        p *= 1.0 - lr * wd
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        p -= lr * m / (np.sqrt(v) + eps)


def adamw(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return NoBiasCorrection(param_groups(params.items(), weight_decay), lr=lr, betas=tuple(betas), eps=eps,
                            weight_decay=weight_decay)
