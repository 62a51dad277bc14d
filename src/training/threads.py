"""The optimizer's thread pool, and the OpenBLAS thread count that goes with it.

``enable(n)`` sets OpenBLAS to one thread and starts ``n`` threads; ``run_split(fn, items)`` then
calls ``fn`` on ``n`` contiguous parts of ``items`` at the same time (part 0 in the calling thread).
The optimizer shares out its update chunks this way, and data-parallel training (parallel.py) the
sum of its workers' gradients; both are a few large NumPy calls per part, which release the GIL,
so threads are enough. Off (the default, or after ``enable(1)``), ``run_split`` is a plain call
and OpenBLAS keeps its own threads.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from ..native import set_blas_threads

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas_threads_before: int | None = None  # OpenBLAS's thread count before enable() set it to 1


def enable(threads: int) -> int:
    """Set OpenBLAS to one thread and start ``threads`` threads for ``run_split``; returns the
    number actually usable (1 without control over OpenBLAS's threads: several threads or
    processes each with a multi-threaded BLAS would oversubscribe the cores). ``enable(1)`` stops
    the threads and gives OpenBLAS its threads back."""
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


def forget_after_fork() -> None:
    """In a forked child: the parent's threads do not exist here, so ``run_split`` runs inline."""
    global _pool, _pool_size, _blas_threads_before
    _pool, _pool_size, _blas_threads_before = None, 0, None


def run_split(fn: Callable[[int, list], None], items: list) -> None:
    """Call ``fn(part_index, part)`` on contiguous parts of ``items``, one part per thread, part 0
    in the calling thread (just ``fn(0, items)`` when the threads are off)."""
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
