"""A plain AdamW over the reference tensors (``.data``, ``.grad``) with switches that break it one
way at a time. Mutants (``m6_adamw_*.py``) build their ``adamw`` from it; with no switch set it
passes the spec's AdamW contracts. Not collected as a mutant: the harness only picks up
``m<digit>_*.py``.
"""
from __future__ import annotations

import numpy as np


class PlainAdamW:
    """AdamW as torch.optim.AdamW, decay on 2+-dim parameters only, unless a switch says otherwise."""

    def __init__(self, params: dict, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0, *,
                 eps_inside_sqrt: bool = False, decay_without_lr: bool = False, decay_after_update: bool = False,
                 bias_correction_offset: int = 0):
        self.params = list(params.values())
        self.param_groups = [{"lr": lr}]  # what the reference adapter's optimizer_set_lr writes
        self.betas, self.eps, self.wd = tuple(betas), eps, weight_decay
        self.eps_inside_sqrt, self.decay_without_lr = eps_inside_sqrt, decay_without_lr
        self.decay_after_update, self.offset = decay_after_update, bias_correction_offset
        self.t = 0
        self.m = [np.zeros(p.data.shape) for p in self.params]
        self.v = [np.zeros(p.data.shape) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        lr, (b1, b2), eps = self.param_groups[0]["lr"], self.betas, self.eps
        self.t += 1
        t = self.t + self.offset
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = np.asarray(p.grad, dtype=np.float64)
            x = p.data.astype(np.float64)
            decay = (self.wd if self.decay_without_lr else lr * self.wd) if p.data.ndim >= 2 else 0.0
            if not self.decay_after_update:
                x = x * (1.0 - decay)
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            v_hat = v / (1.0 - b2 ** t)
            denom = np.sqrt(v_hat + eps) if self.eps_inside_sqrt else np.sqrt(v_hat) + eps
            x = x - lr * (m / (1.0 - b1 ** t)) / denom
            if self.decay_after_update:
                x = x * (1.0 - decay)
            p.data[...] = x.astype(p.data.dtype)
