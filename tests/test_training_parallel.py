"""Data-parallel forward + backward (training/parallel.py) against the plain single-thread step."""
from __future__ import annotations

import numpy as np
import pytest

from numgpt.training import parallel
from numgpt.transformer import GPT, GPTConfig


def _model(dropout: float = 0.0) -> GPT:
    return GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=16, dropout=dropout), seed=0)


def _grads(model: GPT) -> dict[str, np.ndarray]:
    return {n: p.grad.copy() for n, p in model.named_parameters()}


@pytest.fixture(scope="module")
def workers() -> int:
    w = parallel.enable(2)
    if w < 2:
        pytest.skip("OpenBLAS's thread count cannot be controlled here, so data parallelism is off")
    return w


def test_split_batch_matches_one_thread(workers: int) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 11, (5, 16)), rng.integers(0, 11, (5, 16))  # 5 rows: uneven slices 2 + 3
    model = _model().to(np.float64)
    _, loss = model(x, y)
    loss.backward()
    expected, expected_loss = _grads(model), float(loss.item())
    model.zero_grad()
    got_loss = parallel.forward_backward(model, x, y, workers)
    assert got_loss == pytest.approx(expected_loss, rel=1e-12)
    for name, g in _grads(model).items():
        np.testing.assert_allclose(g, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_bit_identical_across_runs_and_accumulates(workers: int) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 11, (6, 16)), rng.integers(0, 11, (6, 16))
    model = _model()
    runs = []
    for _ in range(3):
        model.zero_grad()
        loss = parallel.forward_backward(model, x, y, workers, scale=0.5)
        parallel.forward_backward(model, x, y, workers, scale=0.5)  # gradient accumulation
        runs.append((loss, _grads(model)))
    for loss, grads in runs[1:]:
        assert loss == runs[0][0]
        assert all(np.array_equal(grads[n], runs[0][1][n]) for n in grads)
    model.zero_grad()
    parallel.forward_backward(model, x, y, 1)
    for name, g in _grads(model).items():  # two half-weighted passes == one full pass
        np.testing.assert_allclose(runs[0][1][name], g, rtol=1e-4, atol=1e-6, err_msg=name)


def test_active_dropout_runs_one_slice(workers: int) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 11, (4, 16)), rng.integers(0, 11, (4, 16))
    a, b = _model(dropout=0.3), _model(dropout=0.3)
    la = parallel.forward_backward(a, x, y, workers)
    _, loss = b(x, y)
    loss.backward()
    assert la == float(loss.item())  # same seeded masks, drawn in the same order
    assert all(np.array_equal(g, _grads(b)[n]) for n, g in _grads(a).items())


def test_optimizer_chunks_shared_out_give_the_same_update(workers: int, monkeypatch) -> None:
    from numgpt.nn import Parameter
    from numgpt.training.optim import AdamW

    def run() -> list[np.ndarray]:
        rng = np.random.default_rng(3)
        params = [Parameter(rng.standard_normal(s).astype(np.float32)) for s in [(300, 700), (700,), (5, 3)]]
        opt = AdamW(params, lr=1e-2, weight_decay=0.1)
        opt.CHUNK = 4096  # many chunks, so every worker gets some
        for _ in range(3):
            for p in params:
                p.grad[...] = rng.standard_normal(p.shape).astype(np.float32)
            opt.step()
        return [p.data.copy() for p in params]

    threaded = run()
    monkeypatch.setattr(parallel, "_pool", None)
    single = run()
    assert all(np.array_equal(a, b) for a, b in zip(threaded, single))


def test_enable_one_turns_the_workers_off_and_restores_blas(workers: int) -> None:
    from numgpt.runtime import set_blas_threads

    before = parallel._blas_threads_before
    assert parallel.enable(1) == 1 and parallel.workers() == 1
    restored = set_blas_threads(1)  # returns the count enable(1) restored
    assert restored == before
    assert parallel.enable(2) == 2 and parallel.workers() == 2
