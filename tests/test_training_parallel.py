"""Data-parallel forward + backward (training/parallel.py) against the plain one-process step."""
from __future__ import annotations

import numpy as np
import pytest

from numgpt.training import parallel, threads
from numgpt.training.optim import AdamW
from numgpt.transformer import GPT, GPTConfig


def _model(dropout: float = 0.0) -> GPT:
    return GPT(GPTConfig(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=16, dropout=dropout), seed=0)


def _grads(model: GPT) -> dict[str, np.ndarray]:
    return {n: p.grad.copy() for n, p in model.named_parameters()}


def _data(seed: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 11, (rows, 16)), rng.integers(0, 11, (rows, 16))


@pytest.fixture(scope="module")
def can_fork() -> None:
    from numgpt.native import set_blas_threads

    previous = set_blas_threads(1)
    if previous is None:
        pytest.skip("OpenBLAS's thread count cannot be controlled here, so data parallelism is off")
    set_blas_threads(previous)


def _dp(model: GPT, workers: int = 2) -> parallel.DataParallel:
    dp = parallel.DataParallel(model, AdamW(model.named_parameters(), lr=1e-3), workers)
    assert dp.workers == workers
    return dp


def test_split_batch_matches_one_process(can_fork) -> None:
    x, y = _data(0, 5)  # 5 rows: uneven slices 2 + 3
    model = _model().to(np.float64)
    _, loss = model(x, y)
    loss.backward()
    expected, expected_loss = _grads(model), float(loss.item())
    model.zero_grad()
    with _dp(model) as dp:
        got_loss = dp.forward_backward(x, y)
    assert got_loss == pytest.approx(expected_loss, rel=1e-12)
    for name, g in _grads(model).items():
        np.testing.assert_allclose(g, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_loss_for_evaluation_matches_one_process_and_leaves_grads_alone(can_fork) -> None:
    from numgpt.training.evaluate import estimate_loss

    x, y = _data(7, 5)
    model = _model().to(np.float64)
    with _dp(model) as dp:
        expected = float(model(x, y)[1].item())
        assert dp.loss(x, y) == pytest.approx(expected, rel=1e-12)
        assert all(not p.grad.any() for p in model.parameters())  # still the zeros the optimizer put there
        data = np.random.default_rng(8).integers(0, 11, 500)
        split = {"val": data}
        got = estimate_loss(model, split, 3, 4, 16, np.random.default_rng(9), batch_loss=dp.loss)
        want = estimate_loss(model, split, 3, 4, 16, np.random.default_rng(9))
        assert got["val"] == pytest.approx(want["val"], rel=1e-12)


def test_three_workers_and_more_workers_than_rows(can_fork) -> None:
    x, y = _data(4, 7)
    model = _model().to(np.float64)
    _, loss = model(x, y)
    loss.backward()
    expected = _grads(model)
    with _dp(model, workers=3) as dp:
        for rows in (7, 2):  # 3 slices; then 2 rows: only 2 slices, the third worker idle
            dp.optimizer.zero_grad()
            dp.forward_backward(x[:rows], y[:rows])
            if rows == 7:
                for name, g in _grads(model).items():
                    np.testing.assert_allclose(g, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)
        model.zero_grad()
        _, loss = model(x[:2], y[:2])
        loss.backward()
        two = _grads(model)
        dp.optimizer.zero_grad()
        dp.forward_backward(x[:2], y[:2])
        for name, g in _grads(model).items():
            np.testing.assert_allclose(g, two[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_bit_identical_across_runs_and_accumulates(can_fork) -> None:
    x, y = _data(1, 6)
    model = _model()
    runs = []
    with _dp(model) as dp:
        for _ in range(3):
            dp.optimizer.zero_grad()
            loss = dp.forward_backward(x, y, scale=0.5)
            dp.forward_backward(x, y, scale=0.5)  # gradient accumulation
            runs.append((loss, _grads(model)))
    for loss, grads in runs[1:]:
        assert loss == runs[0][0]
        assert all(np.array_equal(grads[n], runs[0][1][n]) for n in grads)
    model.zero_grad()
    _, loss = model(x, y)
    loss.backward()
    for name, g in _grads(model).items():  # two half-weighted passes == one full pass
        np.testing.assert_allclose(runs[0][1][name], g, rtol=1e-4, atol=1e-6, err_msg=name)


def test_workers_see_optimizer_steps_and_loaded_weights(can_fork) -> None:
    """Training steps with and without the workers agree; a load_state_dict between steps
    reaches the workers (they read the optimizer's shared storage)."""
    def train(workers: int, steps: int = 4) -> tuple[list[float], GPT]:
        model = _model().to(np.float64)
        opt = AdamW(model.named_parameters(), lr=1e-2)
        losses = []
        with parallel.DataParallel(model, opt, workers) as dp:
            for i in range(steps):
                if i == 2:  # replace every parameter array behind the optimizer's back
                    model.load_state_dict({k: v * 0.9 for k, v in model.state_dict().items()})
                losses.append(dp.forward_backward(*_data(10 + i, 6)))
                opt.step()
                opt.zero_grad()
        return losses, model

    one, model_one = train(1)
    two, model_two = train(2)
    np.testing.assert_allclose(two, one, rtol=1e-10)
    for (name, a), (_, b) in zip(model_one.named_parameters(), model_two.named_parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-9, atol=1e-12, err_msg=name)


def test_dropout_with_workers_is_reproducible_and_each_slice_draws_its_own_seed(can_fork) -> None:
    from numgpt.nn import Dropout

    x, y = _data(2, 4)
    runs = []
    for _ in range(2):
        model = _model(dropout=0.3)
        with _dp(model) as dp:
            dropouts = [m for _, m in model.named_modules() if isinstance(m, Dropout)]
            expected = [np.random.default_rng() for _ in dropouts]
            for ref, m in zip(expected, dropouts):
                ref.bit_generator.state = m.rng.bit_generator.state
            loss = dp.forward_backward(x, y)
            for ref, m in zip(expected, dropouts):  # each module's own stream advanced by one draw of 2 seeds
                ref.integers(0, 2**63, size=2)
                assert m.rng.bit_generator.state == ref.bit_generator.state
            runs.append((loss, _grads(model)))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(g, runs[1][1][n]) for n, g in runs[0][1].items())
    plain = _model(dropout=0.3)
    _, one = plain(x, y)
    assert runs[0][0] != float(one.item())  # other masks than a one-process step's (per-slice seeds)


def test_dropout_modules_in_eval_mode_drop_nothing_in_the_workers_either(can_fork) -> None:
    from numgpt.nn import Dropout

    x, y = _data(11, 4)
    model = _model(dropout=0.5).to(np.float64)
    for _, m in model.named_modules():
        if isinstance(m, Dropout):
            m.training = False  # the attention modules still train; their attn_dropout follows its own flag
    expected = float(model(x, y)[1].item())
    with _dp(model) as dp:
        assert dp.forward_backward(x, y) == pytest.approx(expected, rel=1e-12)


def test_created_inside_no_grad_is_refused(can_fork) -> None:
    from numgpt.tensor import no_grad

    model = _model()
    with no_grad(), pytest.raises(RuntimeError, match="gradients enabled"):
        parallel.DataParallel(model, AdamW(model.named_parameters(), lr=1e-3), 2)
    assert threads.thread_count() == 1


def test_eval_mode_reaches_the_workers(can_fork) -> None:
    x, y = _data(3, 6)
    model = _model(dropout=0.5).to(np.float64)
    with _dp(model) as dp:  # forked while the model is in train mode
        model.eval()
        expected = float(model(x, y)[1].item())
        assert dp.loss(x, y) == pytest.approx(expected, rel=1e-12)  # no dropout anywhere
        model.train()


def test_an_error_in_a_worker_is_raised_here(can_fork) -> None:
    x, y = _data(3, 4)
    y[3, 0] = 99  # only the worker's slice holds the bad target id
    with _dp(_model()) as dp:
        with pytest.raises(RuntimeError, match="worker process failed(.|\n)*token id 99"):
            dp.forward_backward(x, y)
        dp.optimizer.zero_grad()
        assert np.isfinite(dp.forward_backward(*_data(3, 4)))  # still usable afterwards


def test_close_stops_the_workers_and_restores_blas(can_fork) -> None:
    from numgpt.native import set_blas_threads

    before = set_blas_threads(3)
    set_blas_threads(before)
    dp = _dp(_model())
    procs = [w.process for w in dp._workers]
    assert threads.thread_count() == 2 and set_blas_threads(1) == 1
    dp.close()
    dp.close()  # idempotent
    assert dp.workers == 1 and threads.thread_count() == 1
    assert all(not p.is_alive() for p in procs)
    assert set_blas_threads(before) == before


def test_a_dead_worker_is_a_clear_error_and_everything_is_restored(can_fork) -> None:
    import os
    import signal

    from numgpt.native import set_blas_threads

    before = set_blas_threads(3)
    set_blas_threads(before)
    dp = _dp(_model())
    os.kill(dp._workers[0].process.pid, signal.SIGKILL)
    dp._workers[0].process.join()
    with pytest.raises(RuntimeError, match=r"worker 1 \(pid \d+\) was killed by SIGKILL"):
        dp.forward_backward(*_data(6, 4))
    assert dp.workers == 1 and threads.thread_count() == 1
    assert set_blas_threads(before) == before


def test_one_instance_at_a_time(can_fork) -> None:
    with _dp(_model()):
        model = _model()
        with pytest.raises(RuntimeError, match="another DataParallel is running"):
            parallel.DataParallel(model, AdamW(model.named_parameters(), lr=1e-3), 2)
    with _dp(_model()) as dp:  # the first one closed: fine again
        assert dp.workers == 2


def test_a_failed_start_cleans_up(can_fork, monkeypatch) -> None:
    from numgpt.native import set_blas_threads

    before = set_blas_threads(3)
    set_blas_threads(before)
    started = []
    real = parallel.DataParallel._start_worker

    def flaky(self):
        if started:
            raise OSError("fork failed")
        started.append(real(self))
        return started[-1]

    monkeypatch.setattr(parallel.DataParallel, "_start_worker", flaky)
    model = _model()
    with pytest.raises(OSError, match="fork failed"):
        parallel.DataParallel(model, AdamW(model.named_parameters(), lr=1e-3), 3)
    assert not started[0].process.is_alive()
    assert threads.thread_count() == 1 and parallel._active is None
    assert set_blas_threads(before) == before


def test_parameters_outside_the_optimizer_are_refused(can_fork) -> None:
    model = _model()
    params = list(model.named_parameters())[1:]  # leaves out transformer.wte.weight
    with pytest.raises(ValueError, match="transformer.wte.weight"):
        parallel.DataParallel(model, AdamW(params, lr=1e-3), 2)
    assert threads.thread_count() == 1


def test_one_worker_is_the_plain_step() -> None:
    x, y = _data(5, 3)
    a, b = _model(), _model()
    with parallel.DataParallel(a, AdamW(a.named_parameters(), lr=1e-3), 1) as dp:
        assert dp.workers == 1
        la = dp.forward_backward(x, y)  # (train() does not even create it for one worker: step.ForwardBackward)
    _, loss = b(x, y)
    loss.backward()
    assert la == float(loss.item())
    assert all(np.array_equal(g, _grads(b)[n]) for n, g in _grads(a).items())


def test_optimizer_chunks_shared_out_give_the_same_update(can_fork, monkeypatch) -> None:
    from numgpt.nn import Parameter

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

    assert threads.enable(2) == 2
    try:
        threaded = run()
    finally:
        threads.enable(1)
    single = run()
    assert all(np.array_equal(a, b) for a, b in zip(threaded, single))
