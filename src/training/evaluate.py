"""Evaluation during training: the mean loss on each split (``estimate_loss``) and a short sample.

Both run the model through ``numgpt.nn.inference_mode``: eval mode and no gradients while they
run, every sub-module's train/eval flag restored afterwards.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..nn import inference_mode
from ..sampling import generate
from .data import get_batch

BatchLoss = Callable[[np.ndarray, np.ndarray], float]


def estimate_loss(model: Any, splits: dict[str, np.ndarray], eval_iters: int, batch_size: int, block_size: int,
                  rng: np.random.Generator, batch_loss: BatchLoss | None = None) -> dict[str, float]:
    """Mean loss over ``eval_iters`` random batches of each split, in eval mode, under no_grad.

    ``batch_loss(x, y)`` computes one batch's loss value: by default ``model(x, y)``'s;
    data-parallel training passes ``DataParallel.loss``, which splits the batch over its workers.
    """
    if batch_loss is None:
        def batch_loss(x: np.ndarray, y: np.ndarray) -> float:
            return float(model(x, y)[1].item())
    out = {}
    with inference_mode(model):
        for name, data in splits.items():
            losses = [batch_loss(*get_batch(data, batch_size, block_size, rng)) for _ in range(eval_iters)]
            out[name] = float(np.mean(losses))
    return out


def sample_text(model: Any, tokenizer: Any, prompt: str, tokens: int, temperature: float, top_k: int | None,
                seed: int) -> str:
    """``tokens`` new tokens after ``prompt`` (an empty prompt starts from token 0), decoded."""
    ids = np.asarray(tokenizer.encode(prompt) or [0], dtype=np.int64)
    out = generate(model, ids, tokens, temperature=temperature, top_k=top_k, seed=seed)  # (in inference_mode)
    return tokenizer.decode([int(i) for i in out])
