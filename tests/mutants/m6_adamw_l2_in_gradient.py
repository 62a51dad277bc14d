"""AdamW with L2 regularisation (wd * p added to the gradient) instead of decoupled weight decay."""
import numpy as np

from numgpt.training.optim import AdamW, param_groups
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "adamw"


class L2InGradient(AdamW):
    def _update(self, group, p, g, state, tmp):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        g = g + wd * p  # coupled: the decay goes through Adam's normalisation
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        p -= lr / (1.0 - b1 ** self.t) * m / (np.sqrt(v / (1.0 - b2 ** self.t)) + eps)


def adamw(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return L2InGradient(param_groups(params.items(), weight_decay), lr=lr, betas=tuple(betas), eps=eps,
                        weight_decay=weight_decay)
