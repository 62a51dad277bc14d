"""Benchmark: generation speed with the KV cache vs nanoGPT's recompute-everything loop.

    python -m numgpt.sampling.bench [--tokens 256] [--repeats 7] [--blas both|current]
    python -m numgpt.sampling.bench --shape gpt2 [--prompt 256] [--tokens 32]   # the roofline report

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

``--shape gpt2`` instead measures a GPT-2-shaped model (124M: n_layer 12, n_head 12, n_embd 768,
block_size 1024, vocab 50257; ``--n_layer`` etc. change it) against what the machine can do, all
in this process:

* decode: ms per 1-token step with the KV cache at batch 1 (median over ``--tokens`` steps after a
  ``--prompt``-token prefill; greedy). A step reads every weight once (the position table aside: one
  row), so its bound is weight bytes / memory bandwidth. The bandwidth is the better of two reads
  of a float32 buffer larger than the last-level cache (at least the weights, at least 4x the LLC):
  ``np.sum`` (one thread) and a BLAS matrix-vector product (the BLAS threads, as the model uses).
  The KV cache read per step is printed too (it is small next to the weights at these lengths).
* prefill: one forward over the ``--prompt`` tokens (median of ``--repeats``); its FLOPs are the
  products it runs (24 T C^2 per layer, 4 T^2 C per layer of attention, 2 T C V of logits) and the
  percentage is of the float32 matmul peak (best GFLOP/s of a 2048^3 product, same process).

With ``--blas both`` all of it is measured with the default BLAS threads, then again with one
BLAS thread (set in this process); ``--blas current`` only the former.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import UsageParser
from ..tensor import no_grad
from ..transformer import GPT, GPTConfig
from .generate import default_window_shift, generate

SMALL_CPU_MODEL = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.0, bias=True)
GPT2_SHAPE = dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257, dropout=0.0, bias=True)
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


def last_level_cache_bytes() -> int:
    """The largest CPU cache's size from sysfs (Linux), or 64 MiB when it cannot be read."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = f.read_text().strip().upper()
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        try:
            sizes.append(int(text.rstrip("KMG")) * scale)
        except ValueError:
            continue
    return max(sizes, default=64 * 2**20)


def memory_bandwidth(n_bytes: int, repeats: int) -> tuple[float, str]:
    """Read bandwidth (bytes/s) over a float32 buffer of ``n_bytes``: the better median of ``np.sum``
    and of a BLAS matrix-vector product over it, and which one it was."""
    cols = 4096
    buf = np.ones((max(1, n_bytes // (4 * cols)), cols), dtype=np.float32)
    vec = np.ones(cols, dtype=np.float32)
    out = {}
    for name, fn in (("np.sum", lambda: buf.sum()), ("BLAS gemv", lambda: buf @ vec)):
        fn()  # warm-up (pages touched)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = buf.nbytes / statistics.median(times)
    best = max(out, key=out.get)
    return out[best], best


def prefill_flops(cfg: GPTConfig, T: int) -> float:
    """FLOPs of one forward over T tokens as numgpt runs it: the block products, the attention
    scores and weighted sums over the whole T x T, and the logits at every position."""
    C, L = cfg.n_embd, cfg.n_layer
    return L * (24.0 * T * C * C + 4.0 * T * T * C) + 2.0 * T * C * cfg.vocab_size


def _decode_and_prefill(model: GPT, ids: np.ndarray, tokens: int, repeats: int) -> tuple[float, float]:
    """(median prefill seconds over ``repeats`` forwards of ``ids`` into a fresh cache, median
    seconds of ``tokens`` greedy 1-token steps after the last prefill)."""
    prefill, steps = [], []
    with no_grad():
        for r in range(repeats + 1):  # the first round warms up
            cache = model.new_kv_cache()
            t0 = time.perf_counter()
            logits, _ = model(ids, kv_cache=cache)
            if r:
                prefill.append(time.perf_counter() - t0)
        nxt = np.argmax(logits.data[:, -1], axis=-1)[:, None]
        for _ in range(tokens):
            t0 = time.perf_counter()
            logits, _ = model(nxt, kv_cache=cache)
            nxt = np.argmax(logits.data[:, -1], axis=-1)[:, None]
            steps.append(time.perf_counter() - t0)
    return statistics.median(prefill), statistics.median(steps)


def measure_roofline(cfg: GPTConfig, prompt: int, tokens: int, repeats: int, buffer_bytes: int | None = None,
                     threads: tuple[int | None, ...] = (None, 1), peak_size: int = 2048,
                     out=print) -> list[dict[str, float]]:
    """Decode ms/token vs the weight-read bound, prefill GFLOP/s vs the matmul peak (module
    docstring), once per OpenBLAS thread count in ``threads`` (None: the machine's default), all in
    this process. Returns one dict of figures per thread count."""
    from ..native import set_blas_threads
    from ..training.bench import matmul_gflops

    if prompt + tokens > cfg.block_size:
        raise ValueError(f"--prompt {prompt} + --tokens {tokens} exceed block_size {cfg.block_size}")
    model = GPT(cfg, seed=0)
    model.eval()
    n_params = model.num_parameters()
    weight_bytes = 4 * (n_params - model.transformer.wpe.weight.size + cfg.n_embd)  # one wpe row per step
    buffer_bytes = buffer_bytes or max(weight_bytes, 4 * last_level_cache_bytes())
    ids = np.random.default_rng(0).integers(0, cfg.vocab_size, size=(1, prompt))
    kv_mb = 2 * cfg.n_layer * (prompt + tokens / 2) * cfg.n_embd * 4 / 1e6  # mean KV cache read per step
    out(f"model {cfg.to_dict()}: {n_params / 1e6:.1f}M parameters ({weight_bytes / 1e6:.1f} MB read per decode "
        f"step), float32, random weights; prompt {prompt} tokens, then {tokens} decode steps")
    default = set_blas_threads(1)  # None: OpenBLAS's threads cannot be controlled here
    results = []
    try:
        for n in threads:
            if n is not None and default is None:
                continue
            if n is not None and n == default and None in threads:
                continue  # the default already is n threads
            if default is not None:
                set_blas_threads(n if n is not None else default)
            label = f"{n} BLAS thread(s)" if n is not None else f"default BLAS threads ({default or 'unknown'})"
            bandwidth, how = memory_bandwidth(buffer_bytes, max(repeats, 3))
            peak = matmul_gflops(peak_size, peak_size, peak_size) * 1e9
            prefill_t, decode = _decode_and_prefill(model, ids, tokens, repeats)
            bound = weight_bytes / bandwidth
            achieved = prefill_flops(cfg, prompt) / prefill_t
            r = dict(blas_threads=float(n or default or 0), params=float(n_params), weight_mb=weight_bytes / 1e6,
                     bandwidth_gbs=bandwidth / 1e9, decode_ms=decode * 1e3, bound_ms=bound * 1e3,
                     decode_ratio=decode / bound, kv_mb=kv_mb, prefill_ms=prefill_t * 1e3,
                     prefill_gflops=achieved / 1e9, peak_gflops=peak / 1e9, prefill_pct=100 * achieved / peak)
            out(f"{label}:")
            out(f"  memory bandwidth: {r['bandwidth_gbs']:.2f} GB/s ({how}, median over a "
                f"{buffer_bytes / 2**20:.0f} MiB buffer)")
            out(f"  decode (KV cache, batch 1): {r['decode_ms']:.2f} ms/token (median); bound "
                f"{r['weight_mb']:.1f} MB / {r['bandwidth_gbs']:.2f} GB/s = {r['bound_ms']:.2f} ms/token; ratio "
                f"{r['decode_ratio']:.2f}x (plus ~{r['kv_mb']:.1f} MB of KV cache read per step)")
            out(f"  prefill: {r['prefill_ms']:.1f} ms (median of {repeats}) = {r['prefill_gflops']:.1f} GFLOP/s; "
                f"matmul peak ({peak_size}^3) {r['peak_gflops']:.1f} GFLOP/s: {r['prefill_pct']:.0f}% of peak")
            results.append(r)
    finally:
        if default is not None:
            set_blas_threads(default)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = UsageParser(prog="python -m numgpt.sampling.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, help="new tokens per run (default 256; --shape gpt2: 32)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds; medians are reported (default 7)")
    pinned = any(os.environ.get(v) for v in THREAD_VARS)
    parser.add_argument("--blas", choices=("both", "current"), default="current" if pinned else "both",
                        help="'both': this process's BLAS threads, then a child with 1 thread; 'current': only "
                             "this process (default 'both' unless OPENBLAS_NUM_THREADS/OMP_NUM_THREADS is set)")
    parser.add_argument("--shape", choices=("small", "gpt2"), default="small",
                        help="'small' (default): the cache/no-cache table; 'gpt2': the 124M shape's decode "
                             "bound and prefill vs matmul peak")
    parser.add_argument("--prompt", type=int, default=256, help="--shape gpt2: prompt tokens (default 256)")
    for key in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
        parser.add_argument(f"--{key}", type=int, help=f"--shape gpt2: override {key}")
    parser.add_argument("--buffer-mib", type=int, help="--shape gpt2: bandwidth buffer size (default: max of "
                                                       "the weight bytes and 4x the last-level cache)")
    parser.add_argument("--peak-size", type=int, default=2048, help="--shape gpt2: the N of the N^3 matmul "
                                                                     "peak (default 2048)")
    parser.add_argument("--table-only", action="store_true", help=argparse.SUPPRESS)  # the child of --blas both
    args = parser.parse_args(argv)
    if args.tokens is None:
        args.tokens = 32 if args.shape == "gpt2" else 256
    if args.tokens < 1 or args.repeats < 1:
        parser.error("--tokens and --repeats must be >= 1")

    if args.shape == "gpt2":
        shape = dict(GPT2_SHAPE, **{k: getattr(args, k) for k in GPT2_SHAPE if getattr(args, k, None) is not None})
        if args.prompt < 1:
            parser.error("--prompt must be >= 1")
        try:
            measure_roofline(GPTConfig(**shape), args.prompt, args.tokens, args.repeats,
                             args.buffer_mib * 2**20 if args.buffer_mib else None,
                             threads=(None, 1) if args.blas == "both" else (None,), peak_size=args.peak_size)
        except ValueError as e:
            parser.error(str(e))
        return 0
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
    from ..__main__ import guard

    raise SystemExit(guard(main))
