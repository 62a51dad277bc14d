"""Benchmarks for the model ops (M2-M4), through the adapter, so any implementation can be timed.

Run with ``python -m pytest spec/benchmarks/test_bench_model.py --bench`` (add ``--impl`` for
another adapter). Everything runs in float32, forward + backward, like a training step. Each
benchmark records in ``extra_info``: the shape, ``ms`` (median milliseconds per call), the FLOP
count used and ``gflops`` (FLOPs / median time). FLOP counts (multiply-add = 2 FLOPs):

* attention (causal, counted as full): forward q@k^T and att@v = 4 B H T^2 hs; backward four such
  products = 8 B H T^2 hs; total 12 B H T^2 hs.
* layer_norm: ~8 FLOPs per element forward, ~10 backward (elementwise; memory bound).
* cross_entropy: ~5 FLOPs per logit forward (max, subtract, exp, sum, log), ~3 backward.
* GPT: 6 N per token for the weight matmuls (N = parameters without wpe; wte counts as the tied
  lm_head) + 12 n_layer T n_embd per token for attention (nanoGPT / PaLM estimate).
"""
from __future__ import annotations

import numpy as np
import pytest

from spec import oracle
from spec.numerics import as_array

pytestmark = pytest.mark.bench

ROUNDS = 5
SMALL_GPT = dict(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=True)


def rand32(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def run(benchmark, step, flops: float, **info) -> None:
    """Time ``step`` (one forward + backward), then record ms and GFLOP/s."""
    benchmark.pedantic(step, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(info, ms=round(median * 1e3, 3), flops=flops, gflops=round(flops / median / 1e9, 3))


@pytest.mark.milestone("M3")
@pytest.mark.parametrize("B,H,T,hs", [(12, 4, 64, 32), (12, 6, 256, 64)], ids=["T64_hs32", "T256_hs64"])
def test_bench_attention_fwd_bwd(benchmark, impl, B, H, T, hs):
    q, k, v = (impl.tensor(rand32((B, H, T, hs), s), requires_grad=True) for s in range(3))
    g = rand32((B, H, T, hs), 3)

    def step():
        impl.backward(impl.scaled_dot_product_attention(q, k, v, causal=True), g)

    run(benchmark, step, 12.0 * B * H * T * T * hs, shape=f"B={B} H={H} T={T} hs={hs}")


@pytest.mark.milestone("M2")
def test_bench_layer_norm_fwd_bwd(benchmark, impl):
    shape = (12, 256, 384)
    x = impl.tensor(rand32(shape, 0), requires_grad=True)
    w = impl.tensor(np.ones(shape[-1], np.float32), requires_grad=True)
    b = impl.tensor(np.zeros(shape[-1], np.float32), requires_grad=True)
    g = rand32(shape, 1)

    def step():
        impl.backward(impl.layer_norm(x, w, b), g)

    run(benchmark, step, 18.0 * np.prod(shape), shape=str(shape))


@pytest.mark.milestone("M2")
@pytest.mark.parametrize("N,V", [(12 * 64, 65), (12 * 64, 8192)], ids=["V65", "V8192"])
def test_bench_cross_entropy_fwd_bwd(benchmark, impl, N, V):
    logits = impl.tensor(rand32((N, V), 0), requires_grad=True)
    targets = np.random.default_rng(1).integers(0, V, size=N)

    def step():
        impl.backward(impl.cross_entropy(logits, targets))

    run(benchmark, step, 8.0 * N * V, shape=f"N={N} V={V}")


@pytest.mark.milestone("M4")
def test_bench_gpt_fwd_bwd(benchmark, impl):
    config, B = SMALL_GPT, 12
    state = impl.gpt_init(config, 0)
    model = impl.gpt_model(config, state, dtype=np.float32)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, config["vocab_size"], size=(B, config["block_size"]))
    targets = rng.integers(0, config["vocab_size"], size=(B, config["block_size"]))

    def step():
        _, loss = impl.gpt_forward(model, idx, targets)
        impl.backward(loss)

    n_params = sum(int(np.size(v)) for k, v in state.items() if k != "transformer.wpe.weight")
    run(benchmark, step, oracle.gpt_train_flops(config, n_params, B, config["block_size"]),
        shape=f"B={B} T={config['block_size']} n_layer=4 n_head=4 n_embd=128 V=65", n_params=n_params)
    _, loss = impl.gpt_forward(model, idx, targets)
    assert np.isfinite(as_array(impl, loss)), "the benchmarked GPT gave a non-finite loss"
