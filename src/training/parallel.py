"""Data-parallel forward + backward over worker processes: both cores busy, not just BLAS.

NumPy's elementwise kernels (GELU, LayerNorm, softmax, ...) run on one core, and OpenBLAS's
worker threads spin between matrix products, so a single-process training step leaves about half
the machine idle. ``DataParallel`` splits each batch along the batch dim into ``workers`` slices:
this process computes the first slice while worker processes, forked from it, compute the others
at the same time, each with OpenBLAS set to one thread (``threads.enable``). It plugs in at the
training step's seam: ``train_step(..., forward_backward=dp.forward_backward)``
(training/step.py); with ``workers = 1`` the training loop does not create it at all.

Why processes and not threads: NumPy releases the GIL inside its loops, but a step makes ~1,000
small NumPy calls per slice, and every return from one needs the GIL back; two threads of one
process wait for each other (docs/performance.md, change 6).

Everything data parallelism needs lives here:

* shared parameters: before the fork, the optimizer's flat parameter storage (training/optim.py)
  is moved into anonymous shared memory, so a worker's copy of the model reads the very bytes the
  optimizer updates (and ``load_state_dict`` writes); nothing is sent but the batch slices;
* the workers' gradients: each worker's parameters have their ``.grad`` in a shared buffer laid
  out like the optimizer's flat gradients; the worker zeroes it and runs its backward;
* their sum: this process adds each worker's buffer to its own gradients after its own slice,
  worker by worker in a fixed order, so a given number of workers gives the same result, bit for
  bit, on every run (and the one-process step's result up to float rounding).

Dropout: each step, every dropout module draws one seed per slice from its own generator, and
each slice's masks come from a generator seeded with its seed (nanoGPT's DDP gives each rank its
own seed in the same spirit). The masks thus differ from a one-process run's, but a run is
reproducible for a given number of workers, and resumable: the modules' generators, which a
checkpoint saves, advance by the same draws. Evaluation is split the same way (``loss``); sampling
and the optimizer update run in this process, the update's chunks shared out over threads
(training/threads.py; a few large NumPy calls each, for which threads are fine).

    >>> with DataParallel(model, optimizer, workers=2) as dp:
    ...     loss = dp.forward_backward(x, y)     # == model(x, y) + loss.backward(), in 2 processes
    ...     optimizer.step(); optimizer.zero_grad()

Linux only (``fork`` of a process that has loaded NumPy is safe there; on macOS Python avoids
``fork``), and only with control over OpenBLAS's threads; otherwise everything runs in this process
(``dp.workers == 1``).
"""
from __future__ import annotations

import ctypes
import mmap
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nn import Dropout
from ..tensor import is_grad_enabled, no_grad
from . import threads
from .optim import Optimizer
from .step import TrainingFault

PR_SET_PDEATHSIG = 1  # prctl(2): the signal the kernel sends this process when its parent dies
PARENT_CHECK_SECONDS = 1.0  # a waiting worker checks this often that its parent is still there


# ----------------------------------------------------------------------------- worker processes


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


def _grad_buffers(optimizer: Optimizer, alloc: Any) -> list[np.ndarray]:
    """One array per optimizer group, laid out like its flat gradients, made by ``alloc(shape, dtype)``."""
    return [alloc(group["flat"].grad.shape, group["flat"].dtype) for group in optimizer.param_groups]


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``); exit
    now if the parent is already gone. (Without libc's prctl the worker's wait loop still notices
    a new parent pid.)"""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker_main(conn: Any, model: Any, optimizer: Optimizer, grads: list[np.ndarray], parent: int,
                 not_ours: list[Any]) -> None:
    """A worker process's loop; see ``DataParallel`` for the messages. ``not_ours``: the parent's
    pipe ends this process inherited by the fork, closed at once so that the parent's death
    closes the pipes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C and SIGTERM are the main process's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # (blocked around the fork)
    _die_with_parent(parent)
    for end in not_ours:
        end.close()
    threads.forget_after_fork()
    views = [(p, view) for group, buf in zip(optimizer.param_groups, grads)
             for p, view in zip(group["flat"].params, group["flat"].views(buf))]
    modules, dropouts = [m for _, m in model.named_modules()], _dropouts(model)
    while True:
        try:
            while not conn.poll(PARENT_CHECK_SECONDS):
                if os.getppid() != parent:
                    return
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
            for buf in grads:
                buf.fill(0)
            for p, view in views:  # backward adds into the shared buffers
                p.grad = view
            _, loss = model(x, y)
            value = float(loss.item())
            loss.backward(np.asarray(weight, dtype=loss.dtype))
            conn.send((seq, "ok", value))
        except BaseException:  # noqa: BLE001 - reported to the main process, which raises it
            conn.send((seq, "error", traceback.format_exc()))


def _add(into: np.ndarray, extra: np.ndarray) -> None:
    """``into += extra``, in one contiguous part per thread when the arrays are large (below ~1M
    floats handing the work to the threads costs more than it saves)."""
    n = into.size
    parts = threads.thread_count() if n >= (1 << 20) else 1
    bounds = np.linspace(0, n, parts + 1).astype(int)

    def add(part: int, ranges: list[tuple[int, int]]) -> None:
        for lo, hi in ranges:
            np.add(into[lo:hi], extra[lo:hi], out=into[lo:hi])

    threads.run_split(add, list(zip(bounds[:-1], bounds[1:])))


@dataclass
class _Worker:
    process: Any
    conn: Any  # this process's end of the pipe
    grads: list[np.ndarray]  # its gradients, laid out like the optimizer's flat ones, per group (shared memory)


_active: "DataParallel | None" = None  # the one instance that owns the BLAS/thread settings


class DataParallel:
    """Run ``model``'s forward and backward over ``workers`` slices of each batch, in parallel.

    Args:
        model: a numgpt ``Module`` returning ``(logits, loss)`` from ``model(x, y)``.
        optimizer: the ``Optimizer`` over all of ``model``'s parameters; its flat parameter
            storage is moved into shared memory.
        workers: slices per batch (this process + ``workers - 1`` forked processes).

    ``self.workers`` is the number actually used: 1 (no processes, nothing changed) off Linux or
    without control over OpenBLAS. The model's architecture must stay as it is while the workers
    run; its parameter *values* may change freely (optimizer steps, ``load_state_dict``, which
    copies in place). One instance at a time: ``close()`` it (or leave its ``with`` block) to stop
    the workers and give OpenBLAS its threads back; after a Ctrl-C inside ``forward_backward``,
    close it rather than reuse it.

    Messages: this process sends ``(seq, x_slice, y_slice, weight, modes, seeds)`` to a worker
    (``modes``: every module's ``training`` flag; ``seeds``: one per dropout module, or None), which
    runs ``model(x, y)`` and ``backward(weight)`` into its shared gradient buffer, and
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
        if threads.enable(workers) < 2:
            threads.enable(1)
            return
        _active, self._owns_settings = self, True
        try:
            for group in optimizer.param_groups:  # the workers read the parameters the optimizer updates
                flat = group["flat"]
                flat.move_data(shared_array(flat.data.shape, flat.dtype))
            for _ in range(workers - 1):
                self._workers.append(self._start_worker())
        except BaseException:
            self.close()
            raise
        self.workers = workers

    def _start_worker(self) -> _Worker:
        buffers = _grad_buffers(self.optimizer, shared_array)
        ctx = mp.get_context("fork")
        ours, theirs = ctx.Pipe()
        not_ours = [ours] + [w.conn for w in self._workers]
        process = ctx.Process(target=_worker_main, daemon=True, name=f"numgpt-dp-worker-{len(self._workers) + 1}",
                              args=(theirs, self.model, self.optimizer, buffers, os.getpid(), not_ours))
        # block Ctrl-C and SIGTERM across the fork, so the child can set its handlers before one is delivered
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            with warnings.catch_warnings():  # Python 3.12+ warns that forking a threaded process may deadlock;
                warnings.simplefilter("ignore", DeprecationWarning)  # the child runs only NumPy and this module
                process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
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
        # any dropout module is in training mode
        seeds = None
        if busy and any(m.training for m in self._dropouts):
            seeds = np.array([m.rng.integers(0, 2**63, size=parts) for m in self._dropouts]).reshape(-1, parts)
        if busy:
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
        if scale is not None:
            for group in self.optimizer.param_groups:
                group["flat"].check()  # every .grad a view of the flat gradients (None: zero)
        for worker, (a, b) in zip(busy, slices[1:]):
            total += self._receive(worker) * (b - a) / B
            if scale is not None:  # worker by worker, a fixed order: reproducible sums
                for group, extra in zip(self.optimizer.param_groups, worker.grads):
                    _add(group["flat"].grad, extra)
        if scale is not None:
            self.last_times = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        return total

    def _send(self, worker: _Worker, msg: tuple) -> None:
        try:
            worker.conn.send(msg)
        except OSError:
            raise self._worker_died(worker) from None

    def _receive(self, worker: _Worker) -> float:
        while True:
            try:
                seq, status, payload = worker.conn.recv()
            except (EOFError, OSError):
                raise self._worker_died(worker) from None
            if seq == self._seq:  # older replies belong to a call interrupted by Ctrl-C
                break
        if status != "ok":
            raise RuntimeError(f"the data-parallel worker process failed:\n{payload}")
        return payload

    def _worker_died(self, worker: _Worker) -> TrainingFault:
        """The one-line error for ``worker``'s death, naming it and its exit signal or status."""
        number = self._workers.index(worker) + 1
        worker.process.join(timeout=1.0)
        code = worker.process.exitcode
        if code is None:
            how = "closed its pipe"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
        else:
            how = f"exited with status {code}"
        pid = worker.process.pid
        self.close()
        return TrainingFault(f"data-parallel worker {number} (pid {pid}) {how}; resume with --resume, or run with "
                             f"--workers=1 to train in one process")

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
            threads.enable(1)
            _active, self._owns_settings = None, False

    def __enter__(self) -> "DataParallel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
