"""Settings of the native libraries under NumPy: glibc's allocator and OpenBLAS's thread count.

``tune_allocator()``: by default glibc's ``malloc`` gives large freed blocks back to the kernel
(``munmap`` above the mmap threshold, ``trim`` of the heap top above the trim threshold). A training
step allocates its activations, frees them in backward and allocates them again in the next step,
so every step would page-fault all of that memory back in; raising both thresholds keeps the freed
pages in the process, where the next step reuses them (measured in docs/performance.md, change 1).
The cost: the resident size stays at its high-water mark. ``python -m numgpt train | bench | sample``
call it.

``set_blas_threads(n)``: OpenBLAS's thread count, through ctypes (training/threads.py uses it).
"""
from __future__ import annotations

import ctypes
import ctypes.util

# glibc's mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

_tuned = False


def tune_allocator(trim_threshold: int = 1 << 30, mmap_threshold: int = 1 << 28) -> bool:
    """Keep freed memory in the process instead of returning it to the OS after every step.

    Sets glibc's ``M_TRIM_THRESHOLD`` (heap top kept up to 1 GiB) and ``M_MMAP_THRESHOLD``
    (blocks up to 256 MiB come from the heap, not from a fresh ``mmap`` that ``free`` would unmap).
    Returns True if applied; off glibc (macOS, musl, Windows) it does nothing and returns False.
    Idempotent.
    """
    global _tuned
    if _tuned:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    _tuned = ok
    return ok


def allocator_tuned() -> bool:
    """Whether ``tune_allocator()`` has been applied in this process (``bench`` reports it)."""
    return _tuned


# ----------------------------------------------------------------------------- BLAS threads


def _openblas_thread_functions():
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS that NumPy loaded, or None.

    Found by name in the shared libraries mapped into this process (Linux ``/proc/self/maps``);
    NumPy's wheels ship OpenBLAS as ``libscipy_openblas64_``, whose symbols carry a
    ``scipy_`` prefix and a ``64_`` suffix. Anything else (MKL, Accelerate, no /proc) -> None.
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                set_fn = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                get_fn = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if set_fn is not None and get_fn is not None:
                    set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
                    get_fn.argtypes, get_fn.restype = [], ctypes.c_int
                    return set_fn, get_fn
    return None


def set_blas_threads(n: int) -> int | None:
    """Set OpenBLAS's thread count; returns the previous count, or None if it cannot be controlled.

    Threads or processes of our own run with one BLAS thread each: OpenBLAS's worker threads
    spin-wait between products and would fight them for the cores."""
    import numpy  # noqa: F401 - OpenBLAS is mapped only once NumPy is imported

    fns = _openblas_thread_functions()
    if fns is None:
        return None
    set_fn, get_fn = fns
    previous = int(get_fn())
    set_fn(int(n))
    return previous
