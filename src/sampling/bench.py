"""Benchmark: generation speed with and without the KV cache.

    python -m numgpt.sampling.bench [--tokens 256] [--repeats 5]

The model is the small CPU one of ``configs/shakespeare_char_cpu.toml`` (n_layer 4, n_head 4,
n_embd 128, block_size 64, vocab 65), randomly initialised (speed does not depend on the weights),
float32. Each case generates from a 1-token prompt with ``temperature=1.0`` and a fixed seed, and
is timed ``--repeats`` times; the table reports the median tokens/s and the ratio to the uncached
exact-window run. Cases:

* ``within block``: block_size - 1 new tokens, so the context never slides: the cache does only
  one new position per step, recomputation grows from 1 to 64 positions.
* ``exact window``: ``--tokens`` new tokens with ``window_shift=1``. Past block_size the window
  slides every step, all positions change, and the cache must be re-filled every step, so cached
  and uncached do the same work there (see numgpt.sampling.generate).
* ``window_shift=32``: past block_size the window jumps 32 tokens at a time, so the cache is
  re-filled once every 32 steps (the model then sees 33..64 tokens of context instead of 64).
  Compared both with the uncached exact window (what nanoGPT does) and with the uncached run of
  the same window (identical tokens).

Timings on a shared machine are noisy, hence medians. Multi-threaded BLAS on small matrices can
be much slower on a busy 2-core machine; try ``OPENBLAS_NUM_THREADS=1`` (or ``OMP_NUM_THREADS=1``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from ..transformer import GPT, GPTConfig
from .generate import generate

SMALL_CPU_MODEL = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.0, bias=True)


def time_generate(model: GPT, n_tokens: int, repeats: int, **kwargs) -> tuple[float, np.ndarray]:
    """Median wall time of ``generate(model, [0], n_tokens, seed=0, **kwargs)`` and its output."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = generate(model, np.array([0]), n_tokens, temperature=1.0, seed=0, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m numgpt.sampling.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per run (default 256)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case; the median is reported")
    args = parser.parse_args(argv)

    cfg = GPTConfig(**SMALL_CPU_MODEL)
    model = GPT(cfg, seed=0)
    generate(model, np.array([0]), 8, seed=0)  # warm up
    shift = cfg.block_size // 2
    cases = [
        ("within block", cfg.block_size - 1, dict(window_shift=1)),
        ("exact window", args.tokens, dict(window_shift=1)),
        (f"window_shift={shift}", args.tokens, dict(window_shift=shift)),
    ]
    print(f"model {SMALL_CPU_MODEL}, float32, median of {args.repeats} runs, prompt of 1 token")
    if not (os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")):
        print("note: BLAS may use several threads; on a busy machine set OPENBLAS_NUM_THREADS=1 for stable figures")
    print(f"{'case':<18}{'new tokens':>11}{'no cache tok/s':>16}{'cache tok/s':>13}{'ratio':>8}")
    results = {}
    for name, n, kwargs in cases:
        t_plain, out_plain = time_generate(model, n, args.repeats, use_cache=False, **kwargs)
        t_cache, out_cache = time_generate(model, n, args.repeats, use_cache=True, **kwargs)
        if not np.array_equal(out_plain, out_cache):
            raise AssertionError(f"{name}: cached and uncached generation disagree")
        results[name] = (n / t_plain, n / t_cache)
        print(f"{name:<18}{n:>11}{n / t_plain:>16.1f}{n / t_cache:>13.1f}{t_plain / t_cache:>7.2f}x")
    exact_plain = results["exact window"][0]
    shifted_cache = results[f"window_shift={shift}"][1]
    print(f"cache with window_shift={shift} vs no cache with the exact window (nanoGPT's loop): "
          f"{shifted_cache / exact_plain:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
