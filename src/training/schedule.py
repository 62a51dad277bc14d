"""The learning-rate schedule: linear warmup, cosine decay to ``min_lr``, then flat.

A pure function of the step, so resuming from a checkpoint needs nothing but the step number.
It is nanoGPT's ``get_lr``, with ``it`` the 0-based index of the update about to be made::

    lr(it) = max_lr * (it + 1) / (warmup_iters + 1)                 if it < warmup_iters
           = min_lr                                                  if it >= lr_decay_iters
           = min_lr + 0.5 * (1 + cos(pi * r)) * (max_lr - min_lr)    otherwise,
             with r = (it - warmup_iters) / (lr_decay_iters - warmup_iters)

So the first update (it = 0) uses ``max_lr / (warmup_iters + 1)`` (never 0, which would waste a
step), ``it = warmup_iters`` is the first to use the full ``max_lr`` (r = 0), the cosine reaches
``min_lr`` exactly at ``it = lr_decay_iters`` (r = 1) and the rate stays there afterwards. With
``warmup_iters = 0`` there is no warmup; with ``lr_decay_iters == warmup_iters`` the rate drops
from the warmup straight to ``min_lr``.
"""
from __future__ import annotations

import math


def get_lr(it: int, warmup_iters: int, lr_decay_iters: int, max_lr: float, min_lr: float) -> float:
    """The learning rate for the update with 0-based index ``it`` (see the module docstring)."""
    if it < 0:
        raise ValueError(f"the step must be >= 0, got {it}")
    if warmup_iters < 0 or lr_decay_iters < warmup_iters:
        raise ValueError(
            f"need 0 <= warmup_iters <= lr_decay_iters, got warmup_iters={warmup_iters}, lr_decay_iters={lr_decay_iters}"
        )
    if it < warmup_iters:
        return max_lr * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:  # (the cosine below also gives exactly min_lr at it == lr_decay_iters)
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return min_lr + coeff * (max_lr - min_lr)
