"""Data-parallel forward + backward over worker processes: both cores busy, not just BLAS.

NumPy's elementwise kernels (GELU, LayerNorm, softmax, ...) run on one core, and OpenBLAS's
worker threads spin between matrix products, so a single-threaded training step leaves about half
the machine idle (docs/performance.md). ``DataParallel`` splits each batch along the batch dim into
``workers`` slices: this process computes the first slice while worker processes, forked from it,
compute the others at the same time, each with OpenBLAS set to one thread
(``numgpt.runtime.set_blas_threads``).

Why processes and not threads: NumPy releases the GIL inside its loops, but a step makes ~1,000
small NumPy calls per slice, and every return from one needs the GIL back. Two threads of one
process waited for each other ~6 ms per step (CPU config: each half batch took 32.5 ms next to
the other thread vs 26.5 ms in a separate process; docs/performance.md).

How the processes share the model: ``optimizer.share_memory()`` moves the parameters' flat
storage (training/optim.py) into shared memory *before* the fork, so a worker's copy of the model
reads the very bytes the optimizer updates: nothing is sent but the batch slices. A worker writes
its slice's gradients into its own shared buffer, laid out like the optimizer's flat gradients;
this process adds them to ``.grad`` after its own slice, worker by worker in a fixed order, so a
given number of workers gives the same result, bit for bit, on every run (and the one-process
step's result up to float rounding).

Dropout: each step, every dropout module draws one seed per slice from its own generator, and
each slice's masks come from a generator seeded with its seed (nanoGPT's DDP gives each rank its
own seed in the same spirit). The masks thus differ from a one-process run's, but a run is
reproducible for a given number of workers, and resumable: the modules' generators, which a
checkpoint saves, advance by the same draws. Evaluation is split the same way (``loss``); sampling
and the optimizer update run in this process, the update's chunks shared out over threads
(``run_split``; a few large NumPy calls each, for which threads are fine).

    >>> with DataParallel(model, optimizer, workers=2) as dp:
    ...     loss = dp.forward_backward(x, y)     # == model(x, y) + loss.backward(), in 2 processes
    ...     optimizer.step(); optimizer.zero_grad(set_to_none=True)

Linux only (``fork`` of a process that has loaded NumPy is safe there; on macOS Python avoids
``fork``), and only with control over OpenBLAS's threads; otherwise everything runs in this process
(``dp.workers == 1``).
"""
from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..nn import Dropout
from ..runtime import set_blas_threads
from ..tensor import is_grad_enabled, no_grad

# ----------------------------------------------------------------------------- threads (optimizer)

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas_threads_before: int | None = None  # OpenBLAS's thread count before enable() set it to 1


def enable(threads: int) -> int:
    """Set OpenBLAS to one thread and start ``threads`` threads for ``run_split``; returns the
    number actually usable (1 without control over OpenBLAS's threads: several threads or
    processes each with a multi-threaded BLAS would oversubscribe the cores). ``enable(1)`` stops
    the threads and gives OpenBLAS its threads back. ``DataParallel`` calls this itself."""
    global _pool, _pool_size, _blas_threads_before
    if threads <= 1:
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
    if _pool is None or _pool_size != threads:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="numgpt-opt")
        _pool_size = threads
    return threads


def run_split(fn: Callable[[int, list], None], items: list) -> None:
    """Call ``fn(part_index, part)`` on contiguous parts of ``items``, one part per thread, part 0
    in the calling thread (just ``fn(0, items)`` when the threads are off). The optimizer updates
    its chunks this way."""
    parts = 1 if _pool is None else min(_pool_size, len(items))
    if parts <= 1:
        fn(0, items)
        return
    bounds = np.linspace(0, len(items), parts + 1).astype(int)
    ranges = list(zip(bounds[:-1], bounds[1:]))
    futures = [_pool.submit(fn, i, items[a:b]) for i, (a, b) in enumerate(ranges) if i > 0]
    try:
        fn(0, items[ranges[0][0]:ranges[0][1]])  # part 0 in this thread, meanwhile
    finally:
        for f in futures:  # never leave a part running behind the caller's back
            f.exception()
    for f in futures:
        f.result()


def thread_count() -> int:
    """The number of threads ``run_split`` uses (1 when off)."""
    return _pool_size if _pool is not None else 1


# ----------------------------------------------------------------------------- worker processes


def default_workers(batch_size: int) -> int:
    """Slices to split a batch into by default: one per core, at most 4, at most one per row."""
    return max(1, min(os.cpu_count() or 1, 4, batch_size))


def shared_array(shape: tuple[int, ...] | int, dtype: Any) -> np.ndarray:
    """A zeroed array in anonymous shared memory (``mmap``, ``MAP_SHARED``): a process forked
    afterwards reads and writes the same bytes."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = int(np.prod(shape))
    buffer = mmap.mmap(-1, max(1, n * np.dtype(dtype).itemsize))
    return np.frombuffer(buffer, dtype=dtype, count=n).reshape(shape)


def _dropouts(model: Any) -> list[Dropout]:
    """The model's dropout modules that can drop anything, in ``named_modules`` order (the same in
    a forked copy of the model)."""
    return [m for _, m in model.named_modules() if isinstance(m, Dropout) and m.p > 0]


def _set_state(modules: list, modes: tuple[bool, ...], dropouts: list[Dropout], seeds: list[int] | None) -> None:
    """Give a worker's copy of the model the main process's train/eval modes and its slice's
    dropout generators."""
    for m, mode in zip(modules, modes):
        m.training = mode
    if seeds is not None:
        for m, seed in zip(dropouts, seeds):
            m.rng = np.random.default_rng(seed)


def _worker_main(conn: Any, model: Any, grad_views: dict[int, np.ndarray]) -> None:
    """A worker process's loop; see ``DataParallel`` for the messages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # (blocked around the fork)
    global _pool, _pool_size
    _pool, _pool_size = None, 0  # the main process's threads do not exist in a forked child
    modules, dropouts = [m for _, m in model.named_modules()], _dropouts(model)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        seq, x, y, weight, modes, seeds = msg
        try:
            _set_state(modules, modes, dropouts, seeds)
            if weight is None:  # evaluation: the loss only
                with no_grad():
                    conn.send((seq, "ok", float(model(x, y)[1].item())))
                continue
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
        except BaseException:  # noqa: BLE001 - reported to the main process, which raises it
            conn.send((seq, "error", traceback.format_exc()))


@dataclass
class _Worker:
    process: Any
    conn: Any  # this process's end of the pipe
    grads: list[np.ndarray]  # its flat gradient buffers, one per optimizer group (shared memory)


_active: "DataParallel | None" = None  # the one instance that owns the BLAS/thread settings


class DataParallel:
    """Run ``model``'s forward and backward over ``workers`` slices of each batch, in parallel.

    Args:
        model: a numgpt ``Module`` returning ``(logits, loss)`` from ``model(x, y)``.
        optimizer: the ``Optimizer`` over all of ``model``'s parameters; its flat storage is
            moved into shared memory (``optimizer.share_memory()``).
        workers: slices per batch (this process + ``workers - 1`` forked processes).

    ``self.workers`` is the number actually used: 1 (no processes, nothing changed) off Linux or
    without control over OpenBLAS. The model's architecture must stay
    as it is while the workers run; its parameter *values* may change freely (optimizer steps,
    ``load_state_dict``). One instance at a time: ``close()`` it (or leave its ``with`` block) to
    stop the workers and give OpenBLAS its threads back; after a Ctrl-C inside
    ``forward_backward``, close it rather than reuse it.

    Messages: this process sends ``(seq, x_slice, y_slice, weight, modes, seeds)`` to a worker
    (``modes``: every module's ``training`` flag; ``seeds``: one per dropout module, or None), which
    runs ``model(x, y)`` and ``backward(weight)``, writes its gradients into its shared buffer, and
    replies ``(seq, "ok", loss)`` or ``(seq, "error", traceback)``; with ``weight`` None it only
    evaluates the loss (``loss()``); ``None`` stops it. ``seq`` numbers the calls, so a reply left
    over from a call interrupted by Ctrl-C is recognised and dropped.
    """

    def __init__(self, model: Any, optimizer: Any, workers: int):
        global _active
        self.model, self.optimizer = model, optimizer
        self._workers: list[_Worker] = []
        self._seq = 0
        self._owns_settings = False
        self.workers = 1
        # seconds spent by the last forward_backward on this process's slice: forward, backward,
        # then waiting for the workers and adding their gradients (bench reports them)
        self.last_times = (0.0, 0.0, 0.0)
        self._modules, self._dropouts = [m for _, m in model.named_modules()], _dropouts(model)
        if workers <= 1 or not sys.platform.startswith("linux"):
            return
        if _active is not None:
            raise RuntimeError("another DataParallel is running; close() it first (one at a time: they share "
                               "the process's BLAS and thread settings)")
        if not is_grad_enabled():  # the workers would inherit it for good
            raise RuntimeError("create DataParallel with gradients enabled, not inside no_grad()")
        optimized = {id(p) for p in optimizer.parameters()}
        missing = [n for n, p in model.named_parameters() if id(p) not in optimized]
        if missing:
            raise ValueError(f"DataParallel: parameters {missing} are not in the optimizer; the worker processes "
                             f"see parameter values only through the optimizer's shared storage")
        if enable(workers) < 2:
            enable(1)
            return
        _active, self._owns_settings = self, True
        try:
            optimizer.share_memory()
            for _ in range(workers - 1):
                self._workers.append(self._start_worker())
        except BaseException:
            self.close()
            raise
        self.workers = workers

    def _start_worker(self) -> _Worker:
        buffers, views = self.optimizer.new_grad_buffers(shared_array)
        ctx = mp.get_context("fork")
        ours, theirs = ctx.Pipe()
        process = ctx.Process(target=_worker_main, args=(theirs, self.model, views), daemon=True,
                              name="numgpt-dp-worker")
        # block Ctrl-C across the fork, so the child can ignore it before it could be delivered
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with warnings.catch_warnings():  # Python 3.12+ warns that forking a threaded process may deadlock;
                warnings.simplefilter("ignore", DeprecationWarning)  # the child runs only NumPy and this module
                process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            theirs.close()
        return _Worker(process, ours, buffers)

    def forward_backward(self, x: np.ndarray, y: np.ndarray, scale: float = 1.0) -> float:
        """Run ``model(x, y)``, backpropagate ``scale * loss`` into the parameters' ``.grad``
        (accumulating, like ``loss.backward()``), and return the loss value (unscaled).

        The slices' mean losses are combined weighted by their rows, which is the batch's mean
        when every target counts (no ``-1`` = ignored targets, as ``get_batch`` makes them)."""
        return self._run(x, y, scale)

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """The value of ``model(x, y)``'s loss under ``no_grad``, the batch split the same way
        (evaluation; equal to the one-process value up to float rounding, for targets without
        ignored positions as in ``forward_backward``)."""
        with no_grad():
            return self._run(x, y, None)

    def _run(self, x: np.ndarray, y: np.ndarray, scale: float | None) -> float:
        """Slice 0 here, slice i by worker i - 1, at the same time; ``scale`` None: forward only."""
        B = x.shape[0]
        parts = min(self.workers, B)
        bounds = np.linspace(0, B, parts + 1).astype(int)
        slices = list(zip(bounds[:-1], bounds[1:]))
        busy = self._workers[: parts - 1]
        self._seq += 1
        # (n_dropout, parts): each slice's dropout seeds, drawn from the modules' generators whenever
        # any module is in training mode (attention dropout follows its attention module's flag)
        seeds = None
        if busy and self._dropouts and any(m.training for m in self._modules):
            seeds = np.array([m.rng.integers(0, 2**63, size=parts) for m in self._dropouts]).reshape(-1, parts)
        if busy:
            self.optimizer.sync_params()  # parameters replaced since the last step (load_state_dict)
            modes = tuple(m.training for m in self._modules)
            for i, (worker, (a, b)) in enumerate(zip(busy, slices[1:]), start=1):
                weight = None if scale is None else scale * (b - a) / B
                self._send(worker, (self._seq, x[a:b], y[a:b], weight, modes,
                                    None if seeds is None else seeds[:, i].tolist()))
        a, b = slices[0]
        t0 = time.perf_counter()
        generators = [m.rng for m in self._dropouts]
        try:
            if seeds is not None:
                for m, seed in zip(self._dropouts, seeds[:, 0].tolist()):
                    m.rng = np.random.default_rng(seed)
            _, loss = self.model(x[a:b], y[a:b])
        finally:
            for m, rng in zip(self._dropouts, generators):  # the modules' own generators back
                m.rng = rng
        total = float(loss.item()) * (b - a) / B
        t1 = time.perf_counter()
        if scale is not None:
            loss.backward(np.asarray(scale * (b - a) / B, dtype=loss.dtype))  # straight into .grad
        t2 = time.perf_counter()
        for worker, (a, b) in zip(busy, slices[1:]):
            total += self._receive(worker) * (b - a) / B
            if scale is not None:
                self.optimizer.add_grads(worker.grads)  # worker by worker, a fixed order: reproducible sums
        if scale is not None:
            self.last_times = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        return total

    def _send(self, worker: _Worker, msg: tuple) -> None:
        try:
            worker.conn.send(msg)
        except OSError:
            raise self._worker_died() from None

    def _receive(self, worker: _Worker) -> float:
        while True:
            try:
                seq, status, payload = worker.conn.recv()
            except (EOFError, OSError):
                raise self._worker_died() from None
            if seq == self._seq:  # older replies belong to a call interrupted by Ctrl-C
                break
        if status != "ok":
            raise RuntimeError(f"the data-parallel worker process failed:\n{payload}")
        return payload

    def _worker_died(self) -> RuntimeError:
        self.close()
        return RuntimeError("a data-parallel worker process died (killed, or out of memory?); "
                            "run with workers = 1 to train in one process")

    def close(self) -> None:
        """Stop the worker processes and give OpenBLAS its threads back (idempotent)."""
        global _active
        for worker in self._workers:
            try:
                worker.conn.send(None)
                worker.conn.close()
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for worker in self._workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
        self._workers, self.workers = [], 1  # (drops the shared gradient buffers too)
        if self._owns_settings:
            enable(1)
            _active, self._owns_settings = None, False

    def __enter__(self) -> "DataParallel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
