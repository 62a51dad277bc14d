"""Benchmark: generation speed with the KV cache vs nanoGPT's recompute-everything loop.

    python -m numgpt.sampling.bench [--tokens 256] [--repeats 7] [--blas both|current]

The model is the small CPU one of ``configs/shakespeare_char_cpu.toml`` (n_layer 4, n_head 4,
n_embd 128, block_size 64, vocab 65), randomly initialised (speed does not depend on the weights),
float32. Every case generates from a 1-token prompt with ``temperature=1.0`` and a fixed seed. The
cases run interleaved, ``--repeats`` rounds, and the table reports each case's median tokens/s
(the machine may be shared: medians, and interleaving, keep drifts from favouring one case).

* ``no cache, exact window``: nanoGPT's loop: every step crops the sequence to its last
  block_size tokens and runs the full forward over them. The baseline of every ratio.
* ``no cache, window_shift=32``: the same, on the default window (numgpt.sampling.generate):
  past block_size the window drops its oldest 32 tokens at once, so it holds 33..64 tokens.
* ``cache, exact window``: with the KV cache, ``window_shift=1``: past block_size the window moves
  every step, every position changes and the cache must be re-filled every step, so it does the
  same work as recomputing.
* ``cache, window_shift=32 (default)``: what ``generate`` does by default: 1-token steps, plus a
  re-fill of 33 positions once every 32 steps.
* ``within block``: block_size - 1 new tokens, so the window never moves: cache vs recompute.

Each pair with the same window must produce identical tokens (checked). With ``--blas both`` (the
default unless OPENBLAS_NUM_THREADS/OMP_NUM_THREADS is set) the whole table is measured twice: in
this process with the machine's default BLAS threads, then in a child process with one BLAS
thread (multi-threaded BLAS on these small products can be much slower on a busy 2-core machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from ..transformer import GPT, GPTConfig
from .generate import default_window_shift, generate

SMALL_CPU_MODEL = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.0, bias=True)
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def time_generate(model: GPT, n_tokens: int, **kwargs) -> tuple[float, np.ndarray]:
    """Wall time of one ``generate(model, [0], n_tokens, temperature=1.0, seed=0, **kwargs)``, and its output."""
    t0 = time.perf_counter()
    out = generate(model, np.array([0]), n_tokens, temperature=1.0, seed=0, **kwargs)
    return time.perf_counter() - t0, out


def measure(n_tokens: int, repeats: int) -> dict[str, float]:
    """Median tokens/s of every case (see the module docstring), keyed by case name."""
    cfg = GPTConfig(**SMALL_CPU_MODEL)
    model = GPT(cfg, seed=0)
    shift = default_window_shift(cfg.block_size)
    cases = {  # name: (new tokens, generate kwargs)
        "no cache, exact window (nanoGPT)": (n_tokens, dict(use_cache=False, window_shift=1)),
        f"no cache, window_shift={shift}": (n_tokens, dict(use_cache=False, window_shift=shift)),
        "cache, exact window": (n_tokens, dict(use_cache=True, window_shift=1)),
        f"cache, window_shift={shift} (default)": (n_tokens, dict(use_cache=True)),
        "within block, no cache": (cfg.block_size - 1, dict(use_cache=False)),
        "within block, cache": (cfg.block_size - 1, dict(use_cache=True)),
    }
    same_tokens = [(0, 2), (1, 3), (4, 5)]  # pairs of cases that see the same windows
    generate(model, np.array([0]), 8, seed=0)  # warm up
    times: dict[str, list[float]] = {name: [] for name in cases}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, (n, kwargs) in cases.items():
            t, outputs[name] = time_generate(model, n, **kwargs)
            times[name].append(t)
    names = list(cases)
    for a, b in same_tokens:
        if not np.array_equal(outputs[names[a]], outputs[names[b]]):
            raise AssertionError(f"'{names[a]}' and '{names[b]}' see the same windows but generated different tokens")
    return {name: cases[name][0] / statistics.median(times[name]) for name in cases}


def report(results: dict[str, float], n_tokens: int, blas: str) -> None:
    names = list(results)
    base, within_base = results[names[0]], results["within block, no cache"]
    print(f"BLAS threads: {blas}")
    print(f"  {'case':<36}{'new tokens':>11}{'tokens/s':>10}{'vs nanoGPT':>12}")
    for name, tps in results.items():
        within = name.startswith("within")
        n, ref = (SMALL_CPU_MODEL["block_size"] - 1, within_base) if within else (n_tokens, base)
        print(f"  {name:<36}{n:>11}{tps:>10.1f}{tps / ref:>11.2f}x")
    shift = default_window_shift(SMALL_CPU_MODEL["block_size"])
    cached, same = results[f"cache, window_shift={shift} (default)"], results[f"no cache, window_shift={shift}"]
    print(f"  => cache (default window) vs nanoGPT's loop: {cached:.0f} vs {base:.0f} tokens/s = {cached / base:.2f}x; "
          f"vs recomputing the same windows: {cached / same:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m numgpt.sampling.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per run (default 256)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds; medians are reported (default 7)")
    pinned = any(os.environ.get(v) for v in THREAD_VARS)
    parser.add_argument("--blas", choices=("both", "current"), default="current" if pinned else "both",
                        help="'both': this process's BLAS threads, then a child with 1 thread; 'current': only "
                             "this process (default 'both' unless OPENBLAS_NUM_THREADS/OMP_NUM_THREADS is set)")
    parser.add_argument("--table-only", action="store_true", help=argparse.SUPPRESS)  # the child of --blas both
    args = parser.parse_args(argv)
    if args.tokens < 1 or args.repeats < 1:
        parser.error("--tokens and --repeats must be >= 1")

    if not args.table_only:
        print(f"model {SMALL_CPU_MODEL}, float32, prompt of 1 token, median of {args.repeats} interleaved runs")
    blas = ", ".join(f"{v}={os.environ[v]}" for v in THREAD_VARS if os.environ.get(v)) or "machine default"
    report(measure(args.tokens, args.repeats), args.tokens, blas)
    if args.blas == "both":
        sys.stdout.flush()
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        child = [sys.executable, "-m", "numgpt.sampling.bench", "--tokens", str(args.tokens),
                 "--repeats", str(args.repeats), "--blas", "current", "--table-only"]
        return subprocess.run(child, env=env).returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
