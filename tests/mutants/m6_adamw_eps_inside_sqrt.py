"""AdamW puts eps inside the square root: sqrt(v_hat + eps) instead of sqrt(v_hat) + eps."""
from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._adamw import PlainAdamW

SPEC = ["spec/test_m6_training.py"]
K = "adamw"


def adamw(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return PlainAdamW(params, lr, betas, eps, weight_decay, eps_inside_sqrt=True)
