"""M1 benchmark: matmul forward + backward through the adapter, at GPT-sized shapes, in float32.

Run with ``python -m pytest spec/benchmarks/test_bench_matmul.py --bench`` (add ``--impl`` to time
another adapter). One step makes fresh leaves A (M, K) and B (K, N), computes C = A @ B and runs
backward with a fixed upstream gradient G (M, N), which computes dA = G @ B^T and dB = A^T @ G.
That is three (M x K x N) products at 2 FLOPs per multiply-add: 6 M N K FLOPs per step.
``extra_info`` records the shape, ``ms`` (median per step), ``flops`` and ``gflops``
(flops / median time). The shapes are a GPT's linear layers: (B*T, C) @ (C, 3C) for a small
model (768 x 128 @ 128 x 384) and for a GPT-2-small-like block at B*T = 16384 tokens
(16384 x 384 @ 384 x 1536, the MLP up-projection).
"""
from __future__ import annotations

import numpy as np
import pytest

from spec.numerics import as_array

pytestmark = [pytest.mark.bench, pytest.mark.milestone("M1")]

SHAPES = [(768, 128, 384), (16384, 384, 1536)]


@pytest.mark.parametrize("M,K,N", SHAPES, ids=[f"{m}x{k}@{k}x{n}" for m, k, n in SHAPES])
def test_bench_matmul_fwd_bwd(benchmark, impl, M, K, N) -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    G = rng.standard_normal((M, N)).astype(np.float32)

    def step():
        a, b = impl.tensor(A, requires_grad=True), impl.tensor(B, requires_grad=True)
        out = impl.matmul(a, b)
        impl.backward(out, G)
        return out, a, b

    rounds = 5 if M * K * N > 10**9 else 30
    out, a, b = benchmark.pedantic(step, rounds=rounds, iterations=1, warmup_rounds=1)
    assert as_array(impl, out).shape == (M, N) and as_array(impl, out).dtype == np.float32
    assert np.asarray(impl.grad(a)).shape == (M, K) and np.asarray(impl.grad(b)).shape == (K, N)
    median = benchmark.stats.stats.median
    flops = 6.0 * M * N * K
    benchmark.extra_info.update(shape=f"({M}x{K})@({K}x{N}) float32", ms=round(median * 1e3, 3), flops=flops,
                                gflops=round(flops / median / 1e9, 3))
