"""One training step, nanoGPT's inner loop: forward, backward, clip, update.

    for micro_step in range(accumulation_steps):
        x, y = next_batch()
        loss = model(x, y) / accumulation_steps;  loss.backward()     # gradients accumulate
    clip_grad_norm(params, grad_clip)
    optimizer.step(); optimizer.zero_grad()

``train()`` (loop.py) runs it every iteration and ``python -m numgpt bench step`` (bench.py) times
it, so the benchmark measures exactly the step that training runs. The forward + backward of one
micro-batch is a function, ``forward_backward(x, y, scale) -> loss value``: by default
``ForwardBackward(model)`` in this process; data-parallel training passes
``DataParallel.forward_backward`` (parallel.py), which splits the batch over worker processes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .clip import clip_grad_norm

Batch = tuple[np.ndarray, np.ndarray]


class TrainingFault(RuntimeError):
    """A fault that ends a run while it trains (a worker process killed, ...): the CLI prints
    its message as one ``error: ...`` line and exits with status 1."""


class UpdateInterrupted(KeyboardInterrupt):
    """Ctrl-C arrived during ``optimizer.step()``: the parameters are half-updated, do not save them."""


class ForwardBackward:
    """``model(x, y)``, then ``(scale * loss).backward()`` into the parameters' ``.grad``
    (accumulating); returns the loss value (unscaled). ``last_times``: the seconds the last call
    spent in forward and in backward (and 0.0 for gathering, which only data parallelism has)."""

    def __init__(self, model: Any):
        self.model = model
        self.last_times = (0.0, 0.0, 0.0)

    def __call__(self, x: np.ndarray, y: np.ndarray, scale: float = 1.0) -> float:
        t0 = time.perf_counter()
        _, loss = self.model(x, y)
        t1 = time.perf_counter()
        loss.backward(np.asarray(scale, dtype=loss.dtype))
        self.last_times = (t1 - t0, time.perf_counter() - t1, 0.0)
        return float(loss.item())


@dataclass
class StepResult:
    """What one step did. ``failed``: (what, value) of the non-finite value that stopped it before
    the update, or None."""

    loss: float                 # mean training loss over the micro-batches
    grad_norm: float            # before clipping (nan when grad_clip is 0)
    failed: tuple[str, float] | None = None


def train_step(optimizer: Any, params: list[Any], next_batch: Callable[[], Batch],
               forward_backward: Callable[[np.ndarray, np.ndarray, float], float],
               accumulation_steps: int = 1, grad_clip: float = 0.0) -> StepResult:
    """One optimizer update from ``accumulation_steps`` micro-batches of ``next_batch()``.

    A non-finite loss or gradient norm stops the step before the update (``StepResult.failed``);
    a Ctrl-C inside ``optimizer.step()`` raises ``UpdateInterrupted``.
    """
    total = 0.0
    for _ in range(accumulation_steps):
        x, y = next_batch()
        loss = forward_backward(x, y, 1.0 / accumulation_steps)
        if not math.isfinite(loss):
            return StepResult(loss, float("nan"), ("the training loss", loss))
        total += loss
    norm = clip_grad_norm(params, grad_clip) if grad_clip > 0 else float("nan")
    if grad_clip > 0 and not math.isfinite(norm):
        return StepResult(total / accumulation_steps, norm, ("the gradient norm", norm))
    try:
        optimizer.step()
    except KeyboardInterrupt as e:
        raise UpdateInterrupted() from e
    optimizer.zero_grad()
    return StepResult(total / accumulation_steps, norm)
