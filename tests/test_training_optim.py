"""Reference unit tests: AdamW / SGD (flat storage), param groups, the LR schedule, clipping."""
from __future__ import annotations

import math

import numpy as np
import pytest

from numgpt.nn import Parameter
from numgpt.training.clip import clip_grad_norm
from numgpt.training.optim import SGD, AdamW, configure_optimizer, param_groups
from numgpt.training.schedule import get_lr

SHAPES = {"w": (5, 3), "emb": (7, 4), "b": (3,), "ln.weight": (4,), "w3": (2, 3, 2)}


def make_params(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return {n: Parameter(rng.standard_normal(s).astype(dtype)) for n, s in SHAPES.items()}


def grad_sequence(steps, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [{n: rng.standard_normal(s).astype(dtype) for n, s in SHAPES.items()} for _ in range(steps)]


def textbook_adamw(values, grads, lr, betas, eps, wd_for):
    """Per-parameter AdamW in float64, written the way the paper states it."""
    p = {n: v.astype(np.float64) for n, v in values.items()}
    m = {n: np.zeros_like(v) for n, v in p.items()}
    v2 = {n: np.zeros_like(v) for n, v in p.items()}
    for t, g in enumerate(grads, start=1):
        for n in p:
            gn = g[n].astype(np.float64)
            p[n] = p[n] - lr * wd_for(n) * p[n]
            m[n] = betas[0] * m[n] + (1 - betas[0]) * gn
            v2[n] = betas[1] * v2[n] + (1 - betas[1]) * gn * gn
            mhat, vhat = m[n] / (1 - betas[0] ** t), v2[n] / (1 - betas[1] ** t)
            p[n] = p[n] - lr * mhat / (np.sqrt(vhat) + eps)
    return p


def run(opt, params, grads):
    for g in grads:
        for n, p in params.items():
            p.grad = g[n].copy()
        opt.step()
        opt.zero_grad()


def test_param_groups_decay_only_matrices():
    groups = param_groups(make_params().items(), 0.1)
    assert groups[0]["names"] == ["w", "emb", "w3"] and groups[0]["weight_decay"] == 0.1
    assert groups[1]["names"] == ["b", "ln.weight"] and groups[1]["weight_decay"] == 0.0


def test_adamw_in_float32_keeps_its_state_in_float32_and_stays_close_to_textbook():
    dtype, tol = np.float32, 2e-6  # (the float64 closed form is the spec's: spec/test_m6_training.py)
    params = make_params(dtype)
    start = {n: p.data.copy() for n, p in params.items()}
    grads = grad_sequence(10, dtype=dtype)
    opt = configure_optimizer(params.items(), lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)
    run(opt, params, grads)
    want = textbook_adamw(start, grads, 0.01, (0.9, 0.99), 1e-8, lambda n: 0.1 if len(SHAPES[n]) >= 2 else 0.0)
    for n, p in params.items():
        assert p.dtype == dtype
        np.testing.assert_allclose(p.data, want[n], rtol=tol, atol=tol, err_msg=n)


def test_chunked_update_equals_one_chunk(monkeypatch):
    grads = grad_sequence(4)
    results = []
    for chunk in (AdamW.CHUNK, 7):
        monkeypatch.setattr(AdamW, "CHUNK", chunk)
        params = make_params()
        run(AdamW(params.items(), lr=0.01, weight_decay=0.1), params, grads)
        results.append({n: p.data.copy() for n, p in params.items()})
    for n in SHAPES:
        np.testing.assert_array_equal(results[0][n], results[1][n])


def test_params_are_views_and_replaced_grads_are_copied_in():
    params = make_params()
    opt = AdamW(params.items(), lr=0.1, weight_decay=0.0)
    flat = opt.param_groups[0]["flat"]
    assert all(np.shares_memory(p.data, flat.data) for p in params.values())
    params["w"].data[...] = 0.0                        # written in place, as Module.load_state_dict does
    for p in params.values():
        p.grad = None                                  # e.g. Module.zero_grad
    params["b"].grad = np.ones(3, np.float32)          # a new array: copied into the flat storage at step()
    opt.step()
    assert np.shares_memory(params["w"].data, flat.data)
    assert np.shares_memory(params["b"].grad, flat.grad)
    np.testing.assert_array_equal(params["w"].data, 0.0)  # zero grad + zero param: Adam moves nothing
    np.testing.assert_allclose(params["b"].data, make_params()["b"].data - 0.1, rtol=1e-6)


def test_zero_grad_keeps_the_views_and_set_to_none_gives_the_same_steps():
    from numgpt.tensor import Tensor

    grads = grad_sequence(3)
    params_a, params_b = make_params(), make_params()
    opt_a = configure_optimizer(params_a.items(), 0.01, (0.9, 0.99), 0.1)
    opt_b = configure_optimizer(params_b.items(), 0.01, (0.9, 0.99), 0.1)
    flat = opt_a.param_groups[0]["flat"]
    for g in grads:
        opt_a.zero_grad()
        opt_b.zero_grad(set_to_none=True)
        assert all(p.grad is None for p in params_b.values())
        for params in (params_a, params_b):
            for n, p in params.items():          # a backward pass: sum(p * g) has gradient g
                (Tensor(g[n]) * p).sum().backward()
        assert np.shares_memory(params_a["w"].grad, flat.grad)  # backward added into the flat storage
        opt_a.step()
        opt_b.step()
    for n in SHAPES:
        np.testing.assert_array_equal(params_a[n].data, params_b[n].data, err_msg=n)
    params_b["w"].grad = None                   # a parameter nobody gave a gradient counts as zero
    before = params_b["w"].data.copy()
    opt_b.zero_grad(set_to_none=True)
    for n in ("emb", "b"):
        (Tensor(np.ones(SHAPES[n], np.float32)) * params_b[n]).sum().backward()
    opt_b.step()
    np.testing.assert_allclose(params_b["w"].data, before * (1 - 0.01 * 0.1) - 0.01 * _adam_direction(opt_b, "w"), rtol=1e-6)


def _adam_direction(opt, name):
    """lr-free AdamW direction m_hat / (sqrt(v_hat) + eps) of parameter ``name`` after the last step."""
    group = opt.param_groups[0]
    flat = group["flat"]
    i = flat.names.index(name)
    lo, hi = flat.offsets[i], flat.offsets[i + 1]
    m, v = group["state"]["exp_avg"][lo:hi], group["state"]["exp_avg_sq"][lo:hi]
    b1, b2 = group["betas"]
    mhat, vhat = m / (1 - b1 ** opt.t), v / (1 - b2 ** opt.t)
    return (mhat / (np.sqrt(vhat) + group["eps"])).reshape(flat.shapes[i])


def test_load_state_dict_writes_into_the_optimizers_storage():
    from numgpt.transformer import GPT

    model = GPT(dict(block_size=8, vocab_size=7, n_layer=1, n_head=1, n_embd=8), seed=0)
    opt = configure_optimizer(model.named_parameters(), 0.01, (0.9, 0.99), 0.1)
    views = [p.data for p in model.parameters()]
    model.load_state_dict(GPT(model.config, seed=1).state_dict())
    assert all(p.data is v for p, v in zip(model.parameters(), views)), "load_state_dict replaced a parameter array"
    np.testing.assert_array_equal(model.transformer.wte.weight.data,
                                  GPT(model.config, seed=1).transformer.wte.weight.data)
    assert np.shares_memory(model.transformer.wte.weight.data, opt.param_groups[0]["flat"].data)


def test_state_dict_resume_is_bit_identical():
    grads = grad_sequence(6)
    params_a = make_params()
    opt_a = configure_optimizer(params_a.items(), 0.01, (0.9, 0.99), 0.1)
    run(opt_a, params_a, grads)

    params_b = make_params()
    opt_b = configure_optimizer(params_b.items(), 0.01, (0.9, 0.99), 0.1)
    run(opt_b, params_b, grads[:3])
    saved_params = {n: p.data.copy() for n, p in params_b.items()}
    saved_opt = opt_b.state_dict()
    params_c = make_params(seed=5)
    for n, p in params_c.items():
        p.data = saved_params[n]
    opt_c = configure_optimizer(params_c.items(), 0.5, (0.5, 0.5), 0.0)  # hyper-parameters restored too
    opt_c.load_state_dict(saved_opt)
    run(opt_c, params_c, grads[3:])
    for n in SHAPES:
        np.testing.assert_array_equal(params_c[n].data, params_a[n].data)


def test_load_state_dict_rejects_other_parameters():
    params = make_params()
    state = AdamW(params.items()).state_dict()
    other = {"w": Parameter(np.zeros((2, 2), np.float32))}
    with pytest.raises(ValueError, match="holds parameters"):
        AdamW(other.items()).load_state_dict(state)
    with pytest.raises(ValueError, match="is for AdamW"):
        SGD(make_params().items()).load_state_dict(state)


def test_sgd_momentum_and_l2():
    params = make_params(np.float64)
    start = {n: p.data.copy() for n, p in params.items()}
    grads = grad_sequence(5, dtype=np.float64)
    run(SGD(params.items(), lr=0.1, momentum=0.9, weight_decay=0.01), params, grads)
    for n in SHAPES:
        p, buf = start[n].copy(), np.zeros(SHAPES[n])
        for g in grads:
            buf = 0.9 * buf + (g[n] + 0.01 * p)
            p = p - 0.1 * buf
        np.testing.assert_allclose(params[n].data, p, rtol=1e-12, atol=1e-12)


def test_optimizer_errors():
    with pytest.raises(TypeError, match="share one dtype"):
        AdamW([Parameter(np.zeros(2, np.float32)), Parameter(np.zeros(2, np.float64))])
    with pytest.raises(ValueError, match="more than one"):
        p = Parameter(np.zeros(2))
        AdamW([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="betas"):
        AdamW([Parameter(np.zeros(2))], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="no parameters"):
        AdamW([])


def test_schedule_rejects_bad_arguments():  # (its values are the spec's: spec/test_m6_training.py)
    kw = dict(warmup_iters=10, lr_decay_iters=110, max_lr=1.0, min_lr=0.1)
    assert get_lr(0, 0, 100, 1.0, 0.0) == 1.0  # no warmup
    with pytest.raises(ValueError, match="step"):
        get_lr(-1, **kw)
    with pytest.raises(ValueError, match="lr_decay_iters"):
        get_lr(0, 10, 5, 1.0, 0.1)


def test_clip_grad_norm_skips_missing_grads_and_reports_inf():  # (the clipping itself: the spec's)
    a, b, c = Parameter(np.zeros(3)), Parameter(np.zeros((2, 2))), Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0, 0.0]), np.array([[0.0, 4.0], [0.0, 0.0]])  # c has no grad
    assert clip_grad_norm([a, b, c], 1.0) == pytest.approx(5.0) and c.grad is None
    a.grad[0] = np.inf
    assert clip_grad_norm([a], 1.0) == math.inf  # reported, not scaled
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([a], 0.0)


def test_model_to_float64_after_the_optimizer_is_a_clear_error():
    """The bug of issue 12: ``model.to(np.float64)`` after creating the optimizer was silently undone
    to float32 by the next ``step()``. Now the step refuses, naming the parameter."""
    from numgpt.transformer import GPT

    model = GPT(dict(block_size=8, vocab_size=7, n_layer=1, n_head=1, n_embd=8), seed=0)
    opt = configure_optimizer(model.named_parameters(), 0.01, (0.9, 0.99), 0.1)
    model.to(np.float64)
    _, loss = model(np.zeros((1, 4), np.int64), np.zeros((1, 4), np.int64))
    loss.backward()
    with pytest.raises(RuntimeError, match=r"transformer\.wte\.weight was replaced .*float64.*model\.to"):
        opt.step()
    assert model.transformer.wte.weight.dtype == np.float64  # not silently cast back


def test_chunk_size_may_change_after_construction():
    grads = grad_sequence(3)
    a, b = make_params(), make_params()
    opt_a = AdamW(a.items(), lr=0.01, weight_decay=0.1)
    opt_b = AdamW(b.items(), lr=0.01, weight_decay=0.1)
    opt_a.CHUNK = 4   # smaller and larger than at construction
    opt_b.CHUNK = 10_000
    run(opt_a, a, grads)
    run(opt_b, b, grads)
    for n in SHAPES:
        np.testing.assert_array_equal(a[n].data, b[n].data, err_msg=n)
