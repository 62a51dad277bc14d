"""AdamW decays every parameter, biases and LayerNorm weights included (one group)."""
from numgpt.training.optim import AdamW
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "adamw"


def adamw(params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    return AdamW(list(params.items()), lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
