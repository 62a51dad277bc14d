"""Data-parallel forward + backward over threads: both cores busy, not just BLAS.

NumPy's elementwise kernels (GELU, LayerNorm, softmax, ...) run on one core, and OpenBLAS's
worker threads spin between matrix products, so a single-threaded training step leaves about half
the machine idle (docs/performance.md). ``forward_backward`` splits the batch into ``workers``
slices along the batch dim and runs each slice's forward and backward in its own thread, with
OpenBLAS set to one thread (``numgpt.runtime.set_blas_threads``); NumPy releases the GIL inside
its loops, so the slices really run at the same time.

Correctness: the loss is the mean over the whole batch, so slice ``i`` (``n_i`` rows of ``B``)
contributes ``loss_i * n_i / B`` and runs its backward with that weight. The threads never write
``.grad``: each backward returns its leaves' gradients (``Tensor.backward(leaf_grads=...)``),
and the calling thread adds them slice by slice in a fixed order (``accumulate_grad``), so the
result is the same, bit for bit, on every run. Dropout draws random masks from shared generators
whose order would depend on thread timing, so a model with active dropout runs one slice.

    >>> loss = forward_backward(model, x, y, workers=2)   # == model(x, y) + backward, in 2 threads
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from ..runtime import set_blas_threads
from ..tensor import accumulate_grad

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas_threads_before: int | None = None  # OpenBLAS's thread count before enable() set it to 1


def default_workers(batch_size: int) -> int:
    """Threads to split a batch over by default: one per core, at most 4, at most one per row."""
    return max(1, min(os.cpu_count() or 1, 4, batch_size))


def enable(workers: int) -> int:
    """Prepare ``workers``-way data parallelism; returns the number of workers actually usable.

    Needs control over OpenBLAS's threads (set to 1 while the workers are enabled); without it
    (another BLAS) this returns 1: two workers each with a multi-threaded BLAS would oversubscribe
    the cores. ``enable(1)`` turns the workers off and gives OpenBLAS its threads back."""
    global _pool, _pool_size, _blas_threads_before
    if workers <= 1:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool, _pool_size = None, 0
        if _blas_threads_before is not None:
            set_blas_threads(_blas_threads_before)
            _blas_threads_before = None
        return 1
    previous = set_blas_threads(1)
    if previous is None:
        return 1
    if _blas_threads_before is None:
        _blas_threads_before = previous
    if _pool is None or _pool_size != workers:
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="numgpt-dp")
        _pool_size = workers
    return workers


def run_split(fn: Callable[[int, list], None], items: list) -> None:
    """Call ``fn(part_index, part)`` on contiguous parts of ``items``, one part per worker thread
    (just ``fn(0, items)`` when data parallelism is off). The optimizer updates its chunks this way."""
    parts = 1 if _pool is None else min(_pool_size, len(items))
    if parts <= 1:
        fn(0, items)
        return
    bounds = np.linspace(0, len(items), parts + 1).astype(int)
    futures = [_pool.submit(fn, i, items[a:b]) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    for f in futures:
        f.result()


def workers() -> int:
    """The number of worker threads enabled (1 when data parallelism is off)."""
    return _pool_size if _pool is not None else 1


def _slice_forward_backward(model: Any, x: np.ndarray, y: np.ndarray, weight: float) -> tuple[float, dict]:
    _, loss = model(x, y)
    value = float(loss.item())
    leaf_grads: dict = {}
    loss.backward(np.asarray(weight, dtype=loss.dtype), leaf_grads=leaf_grads)
    return value, leaf_grads


def forward_backward(model: Any, x: np.ndarray, y: np.ndarray, workers: int = 1, scale: float = 1.0) -> float:
    """Run ``model(x, y)``, backpropagate ``scale * loss`` into the parameters' ``.grad``
    (accumulating, like ``loss.backward()``), and return the loss value (unscaled).

    With ``workers > 1`` (after ``enable(workers)``) the batch is split into that many slices run
    in threads; the loss and the gradients equal the single-thread ones up to float rounding.
    """
    B = x.shape[0]
    dropout_active = model.training and any(
        getattr(m, "p", 0.0) > 0 for _, m in model.named_modules() if type(m).__name__ == "Dropout")
    parts = 1 if (workers <= 1 or _pool is None or dropout_active) else min(workers, B)
    if parts == 1:
        value, leaf_grads = _slice_forward_backward(model, x, y, scale)
        results = [(value, leaf_grads, B)]
    else:
        bounds = np.linspace(0, B, parts + 1).astype(int)
        futures = [
            _pool.submit(_slice_forward_backward, model, x[a:b], y[a:b], scale * (b - a) / B)
            for a, b in zip(bounds[:-1], bounds[1:])
        ]
        results = [(f.result()[0], f.result()[1], b - a)
                   for f, a, b in zip(futures, bounds[:-1], bounds[1:])]
    total = 0.0
    for value, leaf_grads, n in results:  # a fixed order: reproducible sums
        total += value * n / B
        for leaf, g in leaf_grads.values():
            accumulate_grad(leaf, g)
    return total
