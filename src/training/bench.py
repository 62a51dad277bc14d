"""``python -m numgpt bench step``: time the training step and compare it with the matmul peak.

What it measures, in one process (so the ratios are comparable even where absolute times are not):

* the float32 matmul peak: the best GFLOP/s of a 2048x2048x2048 product and of the model's own
  GEMM shapes (the qkv, attention-output, MLP and lm_head products at B*T rows);
* the training step, ``train_step`` of step.py exactly as ``train`` runs it (a batch from
  ``get_batch``, forward, backward, clip, AdamW update), after warm-up: median ms/iter, tokens/s,
  achieved GFLOP/s with the usual estimate ``6 N + 12 L H Q T`` FLOPs per token (N parameters,
  L layers, H heads of size Q, context T; nanoGPT's ``estimate_mfu``), and
  MFU = achieved / peak;
* per-phase medians (forward, backward, the rest: batch, clip and optimizer), peak memory (``tracemalloc`` over NumPy's
  allocations during one step, plus the process's max RSS), and the top ops by time (cProfile
  over a few steps, functions named by their qualified name, e.g. ``layer_norm.<locals>.backward``).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import pstats
import resource
import statistics
import sys
import time
import tracemalloc
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

# ----------------------------------------------------------------------------- matmul peak


def _best_seconds(fn: Callable[[], object], repeats: int, min_time: float = 0.0) -> float:
    best = float("inf")
    start = time.perf_counter()
    i = 0
    while i < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        i += 1
    return best


def matmul_gflops(m: int, k: int, n: int, repeats: int = 5, dtype=np.float32) -> float:
    """Best-of-``repeats`` GFLOP/s of an (m, k) @ (k, n) NumPy product (2 m k n FLOPs)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32).astype(dtype)
    b = rng.standard_normal((k, n), dtype=np.float32).astype(dtype)
    out = np.empty((m, n), dtype=dtype)
    np.matmul(a, b, out=out)  # warm-up
    return 2.0 * m * k * n / _best_seconds(lambda: np.matmul(a, b, out=out), repeats, 0.2) / 1e9


def model_gemm_shapes(B: int, T: int, C: int, V: int, qkv: int | None = None,
                      hidden: int | None = None) -> list[tuple[int, int, int]]:
    """The (m, k, n) of the GEMMs a GPT training step runs, forward and backward. ``qkv``: the width
    of the q, k, v projections together (default 3C; less with grouped-query attention), ``hidden``
    the MLP's (default 4C; SwiGLU's gate and up projections both have it)."""
    rows = B * T
    qkv, hidden = qkv or 3 * C, hidden or 4 * C
    shapes = []
    for k, n in ((C, qkv), (C, C), (C, hidden), (hidden, C), (C, V)):
        shapes += [(rows, k, n), (rows, n, k), (k, rows, n)]  # y = xW, dx = g W^T, dW = x^T g
    return shapes


def matmul_peak(B: int, T: int, C: int, V: int, qkv: int | None = None,
                hidden: int | None = None) -> tuple[float, str]:
    """The float32 matmul peak: the best of 2048^3 and the model's own GEMM shapes."""
    best, where = matmul_gflops(2048, 2048, 2048), "2048x2048x2048"
    for m, k, n in model_gemm_shapes(B, T, C, V, qkv, hidden):
        g = matmul_gflops(m, k, n, repeats=20)
        if g > best:
            best, where = g, f"{m}x{k}x{n}"
    return best, where


# ----------------------------------------------------------------------------- the step


def flops_per_token(n_params: int, n_layer: int, n_head: int, n_embd: int, T: int) -> float:
    """nanoGPT's estimate: 6N for the parameter GEMMs (fwd + bwd) + 12 L H Q T for attention."""
    return 6.0 * n_params + 12.0 * n_layer * n_head * (n_embd // n_head) * T


def flop_params(model) -> int:
    """N of ``flops_per_token``: the parameter count as the step's FLOPs see it. An untied model's
    input embedding is a lookup, not a matmul, so it is left out (its lm_head stays); a tied one
    counts its embedding once, as the LM head (GPT-2's count, unchanged)."""
    n = model.num_parameters()
    return n if model.lm_head is None else n - model.parts()[0].weight.size


@dataclass
class StepTimes:
    forward: list[float]
    backward: list[float]
    gather: list[float]  # data parallel: waiting for the workers + adding their gradients
    rest: list[float]    # the batch, clipping and the optimizer update

    @property
    def total(self) -> list[float]:
        return [sum(phases) for phases in zip(self.forward, self.backward, self.gather, self.rest)]


def make_step(model, optimizer, cfg, batch: Callable[[], tuple[np.ndarray, np.ndarray]], dp=None):
    """``train_step`` as ``train`` runs it, returning its phases' wall times (forward, backward,
    gather, rest). With ``dp`` (a ``DataParallel``) forward and backward are this process's slice,
    and gather the wait for the workers plus adding their gradients."""
    from .step import ForwardBackward, train_step

    params = model.parameters()
    forward_backward = dp.forward_backward if dp is not None else ForwardBackward(model)
    timer = dp if dp is not None else forward_backward  # .last_times of the last forward_backward

    def step() -> tuple[float, float, float, float]:
        t0 = time.perf_counter()
        train_step(optimizer, params, batch, forward_backward, cfg.gradient_accumulation_steps, cfg.grad_clip)
        total = time.perf_counter() - t0
        forward, backward, gather = timer.last_times
        return forward, backward, gather, total - forward - backward - gather

    return step


def _qualnames() -> dict[tuple[str, int], str]:
    """Map (file, first line) of every function in numgpt to its qualified name."""
    names: dict[tuple[str, int], str] = {}

    def visit(code: types.CodeType) -> None:
        names[(code.co_filename, code.co_firstlineno)] = code.co_qualname
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                visit(const)

    for mod_name, module in list(sys.modules.items()):
        if not mod_name.startswith("numgpt") or module is None:
            continue
        for obj in vars(module).values():
            funcs = []
            if inspect.isfunction(obj):
                funcs.append(obj)
            elif inspect.isclass(obj):
                funcs += [f for f in vars(obj).values() if inspect.isfunction(f)]
                funcs += [f.fget for f in vars(obj).values() if isinstance(f, property) and f.fget]
            for f in funcs:
                visit(f.__code__)
    return names


def top_ops(step: Callable[[], object], steps: int, limit: int) -> list[tuple[str, float, int]]:
    """(name, ms per step, calls per step) of the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, callers)
    names = _qualnames()
    rows = []
    for (filename, line, name), (_, ncalls, tottime, _, _) in stats.items():
        label = names.get((filename, line))
        if label is None:
            label = name if filename == "~" else f"{Path(filename).name}:{line}({name})"
        rows.append((label, 1e3 * tottime / steps, ncalls // steps))
    rows.sort(key=lambda r: -r[1])
    return rows[:limit]


def peak_step_memory(step: Callable[[], object]) -> float:
    """Peak bytes NumPy allocates during one step (tracemalloc sees NumPy's data buffers)."""
    gc.collect()
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return float(peak)


# ----------------------------------------------------------------------------- command


def run_benchmark(cfg, vocab_size: int, iters: int, warmup: int, profile_steps: int, seed: int, out=print) -> dict:
    """Build the config's model with random weights, time its training step, print the report."""
    from .data import get_batch
    from .loop import build_model, make_optimizer, start_workers

    B, T = cfg.batch_size, cfg.model.block_size
    model = build_model(cfg.model_args(vocab_size), seed)
    model.train()
    optimizer = make_optimizer(model, cfg)
    rng = np.random.default_rng(seed)
    data = rng.integers(0, vocab_size, size=B * T * 64, dtype=np.int64)

    def batch() -> tuple[np.ndarray, np.ndarray]:
        return get_batch(data, B, T, rng)

    mc = cfg.model
    n_params = model.num_parameters()
    flops = flops_per_token(flop_params(model), mc.n_layer, mc.n_head, mc.n_embd, T) * cfg.tokens_per_iter

    family = "" if mc.positions == "learned" and mc.mlp == "gelu" and mc.norm == "layernorm" else \
        f" {mc.norm}/{mc.mlp}/{mc.positions} n_kv_head={mc.kv_heads}"
    out(f"model: n_layer={mc.n_layer} n_head={mc.n_head} n_embd={mc.n_embd}{family} block={T} batch={B} "
        f"vocab={vocab_size}  params={n_params:,}  {flops / 1e9:.2f} GFLOP/step")
    peak, where = matmul_peak(B, T, mc.n_embd, vocab_size, (mc.n_head + 2 * mc.kv_heads) * mc.head_size, mc.hidden_size)
    out(f"float32 matmul peak: {peak:.1f} GFLOP/s (best shape {where}, the BLAS's default threads)")
    # measured before the data-parallel workers set OpenBLAS to one thread each (as `train` does)
    dp = start_workers(model, optimizer, cfg)
    try:
        result = _time_steps(model, optimizer, batch, cfg, dp, iters, warmup, profile_steps, out)
    finally:
        if dp is not None:
            dp.close()
    workers_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest finished child
    achieved = flops / (result["ms_per_iter"] / 1e3) / 1e9
    result.update(gflops=achieved, peak_gflops=peak, mfu=achieved / peak, workers_max_rss_mb=workers_rss)
    out(f"      {result['tokens_per_s']:,.0f} tokens/s, {achieved:.1f} GFLOP/s, MFU {100 * result['mfu']:.1f}%")
    out(f"memory: peak {result['step_peak_mb']:.1f} MB allocated during a step (this process); max RSS "
        f"{result['max_rss_mb']:.0f} MB" + (f", each worker process {workers_rss:.0f} MB" if result["workers"] > 1 else ""))
    if result.pop("profile"):
        # cProfile sees only the calling thread, so the table comes from single-process steps
        out(f"top ops by own time (cProfile over {profile_steps} single-process steps, one BLAS thread, ms per step):")
        for name, ms, calls in result.pop("top_ops"):
            out(f"  {ms:8.3f} ms  {calls:5d} calls  {name}")
    return result


def _time_steps(model, optimizer, batch, cfg, dp, iters: int, warmup: int, profile_steps: int, out) -> dict:
    """Time ``iters`` steps after ``warmup``, then the peak memory and (optionally) the op profile."""
    from ..native import allocator_tuned

    workers = dp.workers if dp is not None else 1
    step = make_step(model, optimizer, cfg, batch, dp)
    out(f"workers: {workers} process{'es' if workers > 1 else ''} per batch"
        + (" (data-parallel forward+backward, one BLAS thread each)" if workers > 1 else ""))
    out("allocator: " + ("freed memory kept in the process (numgpt.native.tune_allocator)" if allocator_tuned()
                         else "default (memory returned to the OS between steps; slower, see docs/performance.md)"))
    for _ in range(warmup):
        step()
    times = StepTimes([], [], [], [])
    for _ in range(iters):
        for phase, seconds in zip((times.forward, times.backward, times.gather, times.rest), step()):
            phase.append(seconds)
    med = statistics.median(times.total)
    mem = peak_step_memory(step)
    result = {
        "workers": workers,
        "ms_per_iter": 1e3 * med,
        "tokens_per_s": cfg.tokens_per_iter / med,
        "forward_ms": 1e3 * statistics.median(times.forward),
        "backward_ms": 1e3 * statistics.median(times.backward),
        "gather_ms": 1e3 * statistics.median(times.gather),
        "rest_ms": 1e3 * statistics.median(times.rest),
        "step_peak_mb": mem / 2**20,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "profile": profile_steps > 0,
    }
    gather = f", workers' gradients {result['gather_ms']:.2f}" if workers > 1 else ""
    out(f"step: median {result['ms_per_iter']:.2f} ms/iter over {iters} iters (forward {result['forward_ms']:.2f}, "
        f"backward {result['backward_ms']:.2f}{gather}, batch + clip + optimizer {result['rest_ms']:.2f})"
        + (f"\n      (forward and backward: this process's 1/{workers} of the batch; the workers run theirs "
           f"at the same time)" if workers > 1 else ""))
    if profile_steps > 0:
        result["top_ops"] = top_ops(make_step(model, optimizer, cfg, batch), profile_steps, 15)
    return result


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bench step``: a config, the model overrides train also takes, the timing."""
    from .cli import add_overrides

    p.add_argument("--config", default="shakespeare_char_cpu",  # a name, so it resolves from any directory
                   help="TOML config path, or a name from configs/ such as shakespeare_char_cpu "
                        "(default: shakespeare_char_cpu)")
    p.add_argument("--vocab_size", "--vocab-size", dest="bench_vocab_size", type=int, default=65, metavar="N",
                   help="vocabulary size of the random data (default 65, shakespeare_char)")
    p.add_argument("--iters", type=int, default=30, help="timed steps (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps (default 5)")
    p.add_argument("--profile_steps", "--profile-steps", dest="profile_steps", type=int, default=5, metavar="N",
                   help="steps under cProfile for the top-ops table (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    add_overrides(p.add_argument_group("config overrides (--key=value, as for train)"),
                  ("n_layer", "n_head", "n_embd", "n_kv_head", "ffn_hidden", "block_size", "batch_size", "dropout",
                   "bias", "workers",
                   "gradient_accumulation_steps", "grad_clip"))


def run(args: argparse.Namespace) -> int:
    from .cli import overrides_given
    from .config import ConfigError, load_config, resolve_config

    try:
        cfg = load_config(resolve_config(args.config), overrides_given(args))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run_benchmark(cfg, args.bench_vocab_size, iters=args.iters, warmup=args.warmup, profile_steps=args.profile_steps,
                  seed=args.seed)
    return 0
