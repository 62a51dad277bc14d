"""optimizer_set_lr sets an attribute the optimizer never reads: every step keeps the initial learning rate."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "adamw"


def optimizer_set_lr(optimizer, lr):
    optimizer.lr = lr  # BUG: AdamW reads the lr of each param group
