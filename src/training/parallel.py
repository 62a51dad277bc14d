"""Data-parallel forward + backward over worker processes: both cores busy, not just BLAS.

NumPy's elementwise kernels (GELU, LayerNorm, softmax, ...) run on one core, and OpenBLAS's
worker threads spin between matrix products, so a single-threaded training step leaves about half
the machine idle (docs/performance.md). ``DataParallel`` splits each batch along the batch dim into
``workers`` slices: this process computes the first slice while worker processes, forked from it,
compute the others at the same time, each with OpenBLAS set to one thread
(``numgpt.runtime.set_blas_threads``).

Why processes and not threads: NumPy releases the GIL inside its loops, but a step makes ~1,000
small NumPy calls per slice, and every return from one needs the GIL back. Two threads of one
process waited for each other ~6 ms per step (CPU config: each half-batch took 32.5 ms next to
the other thread vs 26.5 ms in a separate process; docs/performance.md).

How the processes share the model: ``optimizer.share_memory()`` moves the parameters' flat
storage (training/optim.py) into shared memory *before* the fork, so a worker's copy of the model
reads the very bytes the optimizer updates: nothing is sent but the batch slices. A worker writes
its slice's gradients into its own shared buffer; this process adds them to ``.grad`` after its
own slice, slice by slice in a fixed order, so the result is the same, bit for bit, on every run
(and equals the single-process step up to float rounding).

Dropout draws its masks from generators in each process, in an order that would depend on the
split, so a model with active dropout runs in this process alone. The optimizer update stays here
too, with its chunks shared out over threads (``run_split``): a few large NumPy calls, for which
threads are fine.

    >>> with DataParallel(model, optimizer, workers=2) as dp:
    ...     loss = dp.forward_backward(x, y)     # == model(x, y) + loss.backward(), in 2 processes
    ...     optimizer.step(); optimizer.zero_grad(set_to_none=True)

Needs ``fork`` (Linux, macOS) and control over OpenBLAS's threads; without either it runs one
slice in this process (``dp.workers == 1``).
"""
from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import signal
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from ..runtime import set_blas_threads

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas_threads_before: int | None = None  # OpenBLAS's thread count before enable() set it to 1


def default_workers(batch_size: int) -> int:
    """Slices to split a batch into by default: one per core, at most 4, at most one per row."""
    return max(1, min(os.cpu_count() or 1, 4, batch_size))


def enable(workers: int) -> int:
    """Set OpenBLAS to one thread and start ``workers`` threads for ``run_split``; returns the
    number of workers actually usable (1 without control over OpenBLAS's threads: several workers
    each with a multi-threaded BLAS would oversubscribe the cores). ``enable(1)`` stops the threads
    and gives OpenBLAS its threads back. ``DataParallel`` calls this itself."""
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
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="numgpt-dp")
        _pool_size = workers
    return workers


def run_split(fn: Callable[[int, list], None], items: list) -> None:
    """Call ``fn(part_index, part)`` on contiguous parts of ``items``, one part per worker thread
    (just ``fn(0, items)`` when the workers are off). The optimizer updates its chunks this way."""
    parts = 1 if _pool is None else min(_pool_size, len(items))
    if parts <= 1:
        fn(0, items)
        return
    bounds = np.linspace(0, len(items), parts + 1).astype(int)
    futures = [_pool.submit(fn, i, items[a:b]) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
    for f in futures:
        f.result()


def workers() -> int:
    """The number of worker threads enabled for ``run_split`` (1 when off)."""
    return _pool_size if _pool is not None else 1


def shared_array(shape: tuple[int, ...] | int, dtype: Any) -> np.ndarray:
    """A zeroed array in anonymous shared memory (``mmap``, ``MAP_SHARED``): a process forked
    afterwards reads and writes the same bytes."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = int(np.prod(shape))
    buffer = mmap.mmap(-1, max(1, n * np.dtype(dtype).itemsize))
    return np.frombuffer(buffer, dtype=dtype, count=n).reshape(shape)


def _dropout_active(model: Any) -> bool:
    return model.training and any(getattr(m, "p", 0.0) > 0 for _, m in model.named_modules()
                                  if type(m).__name__ == "Dropout")


def _worker_main(conn: Any, model: Any, grad_views: dict[int, np.ndarray]) -> None:
    """A worker process: for each ``(seq, x, y, weight, training)`` received, run the slice's
    forward and backward and write its gradients into ``grad_views`` (``id(param) -> view``);
    reply ``(seq, "ok", loss)`` or ``(seq, "error", traceback)``. Exits on ``None`` or when this
    end of the pipe closes."""
    global _pool, _pool_size
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _pool, _pool_size = None, 0  # the parent's threads do not exist in a forked child
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        seq, x, y, weight, training = msg
        try:
            model.train(training)
            _, loss = model(x, y)
            value = float(loss.item())
            leaf_grads: dict = {}
            loss.backward(np.asarray(weight, dtype=loss.dtype), leaf_grads=leaf_grads)
            for key, (leaf, g) in leaf_grads.items():
                if key not in grad_views:
                    raise RuntimeError(f"a gradient reached a tensor of shape {leaf.shape} that is not a parameter "
                                       f"of the model; DataParallel only carries the model's parameter gradients")
                np.copyto(grad_views[key], g, casting="unsafe")
            for key, view in grad_views.items():
                if key not in leaf_grads:  # no gradient reached it: zero
                    view.fill(0)
            conn.send((seq, "ok", value))
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
            conn.send((seq, "error", traceback.format_exc()))


class DataParallel:
    """Run ``model``'s forward and backward over ``workers`` slices of each batch, in parallel.

    Args:
        model: a numgpt ``Module`` returning ``(logits, loss)`` from ``model(x, y)``.
        optimizer: the ``Optimizer`` over all of ``model``'s parameters; its flat storage is
            moved into shared memory (``optimizer.share_memory()``).
        workers: slices per batch (this process + ``workers - 1`` forked processes).

    ``self.workers`` is the number actually used (1 without ``fork`` or OpenBLAS control). The
    model's architecture must stay as it is while the workers run; its parameter *values* may
    change freely (optimizer steps, ``load_state_dict``). ``close()`` (or leaving the ``with``
    block) stops the workers and gives OpenBLAS its threads back.
    """

    def __init__(self, model: Any, optimizer: Any, workers: int):
        self.model = model
        self.optimizer = optimizer
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        self._grads: list[list[np.ndarray]] = []  # per worker: its flat gradient buffers (optimizer layout)
        self._seq = 0
        self.workers = 1
        if workers <= 1 or "fork" not in mp.get_all_start_methods():
            return
        if enable(workers) < 2:
            return
        optimized = {id(p) for p in optimizer.parameters()}
        missing = [n for n, p in model.named_parameters() if id(p) not in optimized]
        if missing:
            enable(1)
            raise ValueError(f"DataParallel: parameters {missing} are not in the optimizer; the worker processes "
                             f"see parameter values only through the optimizer's shared storage")
        optimizer.share_memory()
        ctx = mp.get_context("fork")
        for _ in range(workers - 1):
            buffers, views = optimizer.new_grad_buffers(shared_array)
            parent_end, child_end = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child_end, model, views), daemon=True,
                               name="numgpt-dp-worker")
            with warnings.catch_warnings():  # Python 3.12+ warns that forking a threaded process may deadlock;
                warnings.simplefilter("ignore", DeprecationWarning)  # the child only runs NumPy and this module
                proc.start()
            child_end.close()
            self._conns.append(parent_end)
            self._procs.append(proc)
            self._grads.append(buffers)
        self.workers = workers

    def forward_backward(self, x: np.ndarray, y: np.ndarray, scale: float = 1.0) -> float:
        """Run ``model(x, y)``, backpropagate ``scale * loss`` into the parameters' ``.grad``
        (accumulating, like ``loss.backward()``), and return the loss value (unscaled)."""
        model, B = self.model, x.shape[0]
        parts = 1 if self.workers <= 1 or _dropout_active(model) else min(self.workers, B)
        bounds = np.linspace(0, B, parts + 1).astype(int)
        self._seq += 1
        if parts > 1:
            self.optimizer.sync_params()  # parameters replaced since the last step (load_state_dict) -> shared storage
            for conn, a, b in zip(self._conns, bounds[1:-1], bounds[2:]):
                conn.send((self._seq, x[a:b], y[a:b], scale * (b - a) / B, model.training))
        # slice 0 here, straight into .grad
        _, loss = model(x[: bounds[1]], y[: bounds[1]])
        total = float(loss.item()) * bounds[1] / B
        loss.backward(np.asarray(scale * bounds[1] / B, dtype=loss.dtype))
        for conn, buffers, a, b in zip(self._conns[: parts - 1], self._grads, bounds[1:-1], bounds[2:]):
            total += self._receive(conn) * (b - a) / B
            self.optimizer.add_grads(buffers)  # worker by worker, a fixed order: reproducible sums
        return total

    def _receive(self, conn: Any) -> float:
        while True:
            try:
                seq, status, payload = conn.recv()
            except (EOFError, OSError):
                self.close()
                raise RuntimeError("a data-parallel worker process died (killed, or out of memory?); "
                                   "run with workers = 1 to train in one process") from None
            if seq == self._seq:  # older replies belong to a step interrupted by Ctrl-C
                break
        if status != "ok":
            raise RuntimeError(f"the data-parallel worker process failed:\n{payload}")
        return payload

    def close(self) -> None:
        """Stop the worker processes and give OpenBLAS its threads back (idempotent)."""
        for conn in self._conns:
            try:
                conn.send(None)
                conn.close()
            except OSError:
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        if self.workers > 1:
            enable(1)
        self._conns, self._procs, self.workers = [], [], 1

    def __enter__(self) -> "DataParallel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
