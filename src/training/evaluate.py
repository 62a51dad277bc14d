"""Evaluation: the periodic estimate (``estimate_loss``), the exact loss (``full_loss``), a sample.

* ``estimate_loss``: the mean loss over ``eval_iters`` random batches of each split, as nanoGPT
  logs it during training; cheap, but a random estimate (sd ~0.014 for 20 batches of 12 x 64 on
  the CPU config: docs/training.md);
* ``full_loss``: the exact mean loss over a whole split, cut into non-overlapping ``block_size``
  windows (every token after the first is a target exactly once), run at the end of training
  (``val_loss_full``) and by ``python -m numgpt eval``;
* ``sample_text``: the sample printed after each evaluation.

All run the model through ``numgpt.nn.inference_mode``: eval mode and no gradients while they
run, every sub-module's train/eval flag restored afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..nn import inference_mode
from ..sampling import generate
from .data import DataError, get_batch

BatchLoss = Callable[[np.ndarray, np.ndarray], float]
FULL_EVAL_BATCH = 64  # windows per forward pass of full_loss


def _model_loss(model: Any) -> BatchLoss:
    """The default ``batch_loss``: ``model(x, y)``'s loss value, in this process."""
    def batch_loss(x: np.ndarray, y: np.ndarray) -> float:
        return float(model(x, y)[1].item())
    return batch_loss


def estimate_loss(model: Any, splits: dict[str, np.ndarray], eval_iters: int, batch_size: int, block_size: int,
                  rng: np.random.Generator, batch_loss: BatchLoss | None = None) -> dict[str, float]:
    """Mean loss over ``eval_iters`` random batches of each split, in eval mode, under no_grad.

    ``batch_loss(x, y)`` computes one batch's loss value: by default ``model(x, y)``'s;
    data-parallel training passes ``DataParallel.loss``, which splits the batch over its workers.
    """
    batch_loss = _model_loss(model) if batch_loss is None else batch_loss
    out = {}
    with inference_mode(model):
        for name, data in splits.items():
            losses = [batch_loss(*get_batch(data, batch_size, block_size, rng)) for _ in range(eval_iters)]
            out[name] = float(np.mean(losses))
    return out


@dataclass(frozen=True)
class FullLoss:
    """The exact loss over a split: ``loss`` is the mean cross-entropy (nats per token) over the
    ``windows * block_size`` targets ``data[1 : tokens + 1]``."""

    loss: float
    windows: int
    block_size: int

    @property
    def tokens(self) -> int:
        return self.windows * self.block_size


def full_loss(model: Any, data: np.ndarray, block_size: int, batch_size: int = FULL_EVAL_BATCH,
              batch_loss: BatchLoss | None = None) -> FullLoss:
    """The mean loss over all of ``data`` in non-overlapping windows, in eval mode, under no_grad.

    Window ``w`` is ``x = data[w*T : (w+1)*T]``, ``y = data[w*T + 1 : (w+1)*T + 1]`` for
    ``w < (len(data) - 1) // T`` (the last, partial window is left out), so every position has a
    context of 0 to T-1 tokens, as in training. The windows go through the model ``batch_size`` at
    a time; ``batch_loss(x, y)`` is one batch's mean loss (default ``model(x, y)``'s; training passes
    ``DataParallel.loss``), and the batches' means are weighted by their rows.
    """
    windows = (len(data) - 1) // block_size
    if windows < 1:
        raise DataError(f"the split has {len(data)} tokens, too few for one window of block_size {block_size} "
                        f"plus a target (need at least {block_size + 1})")
    batch_loss = _model_loss(model) if batch_loss is None else batch_loss
    ids = np.asarray(data[: windows * block_size + 1], dtype=np.int64)
    xs, ys = ids[:-1].reshape(windows, block_size), ids[1:].reshape(windows, block_size)
    total = 0.0
    with inference_mode(model):
        for a in range(0, windows, batch_size):
            x, y = xs[a: a + batch_size], ys[a: a + batch_size]
            total += batch_loss(x, y) * len(x)
    return FullLoss(total / windows, windows, block_size)


def sample_text(model: Any, tokenizer: Any, prompt: str, tokens: int, temperature: float, top_k: int | None,
                seed: int) -> str:
    """``tokens`` new tokens after ``prompt`` (an empty prompt starts from token 0), decoded."""
    ids = np.asarray(tokenizer.encode(prompt) or [0], dtype=np.int64)
    out = generate(model, ids, tokens, temperature=temperature, top_k=top_k, seed=seed)  # (in inference_mode)
    return tokenizer.decode([int(i) for i in out])
