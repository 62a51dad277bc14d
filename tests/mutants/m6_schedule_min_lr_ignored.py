"""The cosine decays to 0 instead of to min_lr (min_lr is used only after lr_decay_iters)."""
import math

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "schedule"


def lr_schedule(step, warmup_iters, lr_decay_iters, max_lr, min_lr):
    if step < warmup_iters:
        return max_lr * (step + 1) / (warmup_iters + 1)
    if step >= lr_decay_iters:
        return min_lr
    r = (step - warmup_iters) / (lr_decay_iters - warmup_iters)
    return 0.5 * (1 + math.cos(math.pi * r)) * max_lr
