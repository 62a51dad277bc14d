"""Data-parallel training over MPI ranks: ``mpiexec -n N python -m numgpt train --config ...``.

The same seam as the forked workers (parallel.py): ``MPIDataParallel.forward_backward(x, y, scale)``
is the step's forward + backward of one micro-batch (training/step.py). Every rank runs the whole
training loop on the same data stream (same seed, so the same batches and the same initial
parameters); each takes its share of every micro-batch's rows (the same row split and the same
per-slice dropout seeds as ``DataParallel`` with ``workers = N``), backpropagates it into its
gradients, and after the step's last micro-batch the gradients of all ranks are summed with ONE
``Allreduce`` over a single buffer holding the optimizer's flat gradients (all its groups end to
end). Every rank then clips and applies the same update, so the parameters stay equal without
being sent. The micro-batch losses are summed with a one-number ``Allreduce`` each, so every rank
sees the same loss and stops on a non-finite one together. Evaluation is split and reduced the
same way (``loss``); rank 0 alone prints, samples, writes metrics and checkpoints (``is_root``).

Failures: an exception on any rank prints ``error: rank R: ...`` and calls ``Abort``, which ends
every rank (``run``); a rank killed outright is noticed by ``mpiexec``, which ends the others. The
waits for a collective poll a non-blocking request, so a Ctrl-C is seen at once on every rank;
rank 0 then saves the checkpoint (once) and ends the job, the other ranks wait for it.

Nothing here imports ``mpi4py`` until ``World.start`` (``launched()`` reads the environment only),
so a single process never loads MPI.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from typing import Any, Callable

import numpy as np

from ..native import set_blas_threads
from ..tensor import no_grad

_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
INSTALL_HINT = 'MPI training needs the mpi extra: pip install -e ".[mpi]" (mpi4py and the mpich wheels)'


def launched() -> bool:
    """True when this process is one of several ranks started by ``mpiexec`` (or ``srun``): the
    launcher's size variable says more than one. Reads the environment only."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def _interrupt_once(signum: int, frame: Any) -> None:
    """SIGINT: a KeyboardInterrupt the first time, then ignored, so that the Ctrl-C which reaches a
    rank both from the terminal and forwarded by ``mpiexec`` cannot interrupt rank 0's save."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


class World:
    """The job's ``COMM_WORLD``: ``rank``, ``size``, and the few collectives training needs."""

    def __init__(self, comm: Any, mpi: Any):
        self.comm, self.MPI = comm, mpi
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    @classmethod
    def start(cls) -> "World":
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise RuntimeError(f"this process was started by mpiexec, but mpi4py cannot be imported ({e}). "
                               f"{INSTALL_HINT}") from None
        return cls(MPI.COMM_WORLD, MPI)

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def wait(self, request: Any) -> None:
        """Wait for a non-blocking collective, in Python, so that a Ctrl-C interrupts the wait."""
        while not request.Test():
            time.sleep(0)

    def sum_(self, buffer: np.ndarray) -> None:
        """``buffer`` := its sum over all ranks, in place (one ``Iallreduce``)."""
        self.wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM))

    def barrier(self) -> None:
        self.wait(self.comm.Ibarrier())

    def abort(self, code: int) -> None:
        """End every rank with ``code``. MPI_Abort kills the job at once, and mpiexec may not have
        forwarded this rank's last lines yet (the error or the "saved" line was seen lost): flush,
        give it half a second, then abort."""
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.5)
        self.comm.Abort(code)

    def run(self, job: Callable[[], Any]) -> Any:
        """``job()`` on this rank; an exception on it ends the whole job, the rank named. A Ctrl-C:
        rank 0's ``job`` handles it (saves, returns), then the job ends; the other ranks wait."""
        try:
            signal.signal(signal.SIGINT, _interrupt_once)
            result = job()
            interrupted = getattr(result, "status", None) == "interrupted"
        except KeyboardInterrupt:
            result, interrupted = None, True
        except BaseException as e:  # noqa: BLE001 - any failure on one rank ends every rank
            detail = traceback.format_exc() if not isinstance(e, (ValueError, OSError, RuntimeError)) else str(e)
            print(f"error: rank {self.rank}: {type(e).__name__}: {detail}", file=sys.stderr, flush=True)
            self.abort(1)
        if interrupted:  # rank 0 has saved: it ends every rank; a rank waiting alone gives up after a minute
            if not self.is_root:
                time.sleep(60)
            self.abort(130)
        return result


def _one_grad_buffer(optimizer: Any) -> np.ndarray:
    """Lay all of ``optimizer``'s flat gradients (every group's) end to end in one new array and
    make each group's gradients (and its parameters' ``.grad``) views of it; returns the array."""
    groups = [group["flat"] for group in optimizer.param_groups]
    dtypes = {flat.dtype for flat in groups}
    if len(dtypes) != 1:
        raise TypeError(f"MPI training needs one dtype for all optimizer groups, got {sorted(map(str, dtypes))}")
    buffer = np.zeros(sum(flat.grad.size for flat in groups), dtype=dtypes.pop())
    start = 0
    for flat in groups:
        view = buffer[start:start + flat.grad.size]
        view[...] = flat.grad
        flat.grad, flat.grad_views = view, flat.views(view)
        for p, g in zip(flat.params, flat.grad_views):
            p.grad = g
        start += view.size
    return buffer


class MPIDataParallel:
    """Data parallelism over the ranks of ``world``, behind ``DataParallel``'s interface
    (``workers``, ``forward_backward``, ``loss``, ``close``, ``last_times``).

    ``accumulation_steps``: the micro-batches per optimizer step; the gradients are summed over
    the ranks after the last of them (one ``Allreduce`` per step)."""

    def __init__(self, world: World, model: Any, optimizer: Any, accumulation_steps: int):
        self.world, self.model, self.optimizer = world, model, optimizer
        self.workers = world.size
        self.accumulation_steps = accumulation_steps
        self.last_times = (0.0, 0.0, 0.0)
        self._micro = 0
        self._grads = _one_grad_buffer(optimizer)
        from .parallel import _dropouts

        self._dropouts = _dropouts(model)
        set_blas_threads(1)  # one rank per core: a multi-threaded BLAS in each would oversubscribe them

    def forward_backward(self, x: np.ndarray, y: np.ndarray, scale: float = 1.0) -> float:
        """This rank's rows of ``model(x, y)``, backpropagated (``scale``, weighted by its share
        of the rows) into ``.grad``; the gradients summed over the ranks after the step's last
        micro-batch. Returns the whole batch's loss (the same on every rank)."""
        t0 = time.perf_counter()
        local, loss = self._forward(x, y, training=True)
        t1 = time.perf_counter()
        if loss is not None:
            loss.backward(np.asarray(scale * local[1], dtype=loss.dtype))
        t2 = time.perf_counter()
        total = self._sum_loss(local[0] * local[1])
        self._micro += 1
        if not np.isfinite(total):
            self._micro = 0  # the step stops here on every rank
        elif self._micro == self.accumulation_steps:
            self._micro = 0
            for group in self.optimizer.param_groups:
                group["flat"].check()  # every .grad a view of the one buffer
            self.world.sum_(self._grads)
        self.last_times = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        return total

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """``model(x, y)``'s loss under ``no_grad``, the rows split over the ranks and summed."""
        with no_grad():
            local, _ = self._forward(x, y, training=False)
        return self._sum_loss(local[0] * local[1])

    def _forward(self, x: np.ndarray, y: np.ndarray, training: bool) -> tuple[tuple[float, float], Any]:
        """((this rank's mean loss, its share of the rows), the loss tensor or None): the row
        split and dropout seeds of ``DataParallel._run`` with ``workers = size``."""
        B, size = x.shape[0], self.world.size
        parts = min(size, B)
        bounds = np.linspace(0, B, parts + 1).astype(int)
        seeds = None
        if training and parts > 1 and any(m.training for m in self._dropouts):
            seeds = np.array([m.rng.integers(0, 2**63, size=parts) for m in self._dropouts]).reshape(-1, parts)
        if self.world.rank >= parts:  # more ranks than rows: nothing to add
            return (0.0, 0.0), None
        a, b = bounds[self.world.rank], bounds[self.world.rank + 1]
        generators = [m.rng for m in self._dropouts]
        try:
            if seeds is not None:
                for m, seed in zip(self._dropouts, seeds[:, self.world.rank].tolist()):
                    m.rng = np.random.default_rng(seed)
            _, loss = self.model(x[a:b], y[a:b])
        finally:
            for m, rng in zip(self._dropouts, generators):
                m.rng = rng
        return (float(loss.item()), (b - a) / B), loss

    def _sum_loss(self, value: float) -> float:
        buffer = np.array([value], dtype=np.float64)
        self.world.sum_(buffer)
        return float(buffer[0])

    def close(self) -> None:
        """Nothing to stop: the ranks end with the job."""
