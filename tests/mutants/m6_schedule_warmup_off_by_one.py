"""The warmup is off by one: max_lr * step / warmup_iters (0 at step 0, max_lr one step early)."""
import math

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "schedule"


def lr_schedule(step, warmup_iters, lr_decay_iters, max_lr, min_lr):
    if step < warmup_iters:
        return max_lr * step / warmup_iters
    if step >= lr_decay_iters:
        return min_lr
    r = (step - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (max_lr - min_lr)
