"""M6 contracts: AdamW, the learning-rate schedule, gradient clipping, get_batch, checkpoints,
and a tiny end-to-end training run.

Oracles are closed-form NumPy written here (float64), independent of any implementation:

* AdamW (Loshchilov & Hutter, as torch.optim.AdamW), step t = 1, 2, ...::

      p <- p - lr * wd * p                                   (decoupled decay; wd = 0 for 1-D params)
      m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
      p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

* the schedule (nanoGPT's get_lr): warmup ``max_lr (it+1)/(warmup+1)`` for it < warmup, cosine
  from max_lr at it = warmup to min_lr at it = lr_decay_iters, then min_lr.
* clipping: global norm ``sqrt(sum g^2)`` over all params; scale by max_norm/(norm + 1e-6) only
  when norm > max_norm.

* get_batch: window starts uniform on [0, len(data) - block_size), checked by a chi-square test
  of their frequencies at significance BATCH_ALPHA.

Tolerances (named in the M6 block of spec/numerics.py, each with its reason): float32 parameters
vs the float64 oracle F32_STEP_RTOL/ATOL (10 steps of float32 rounding at lr 1e-2 stay ~1e-7);
schedule values SCHEDULE_RTOL; norms CLIP_NORM_RTOL; checkpoints and resumed training must be
bit-identical, in float32 and in float64 (a save/load that changes a single bit of state, or the
dtype, is a bug, not rounding). Return values of the wrong type (``clip_grad_norm`` returning
None) are reported as such (``expect_float``/``expect_array``).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.numerics import (ADAMW_SIGN_STEP_ATOL, ADAMW_SIGN_STEP_RTOL, BATCH_ALPHA, CLIP_NORM_RTOL, CLIP_SCALED_ATOL,
                           CLIP_SCALED_RTOL, CLIP_UNCHANGED_RTOL, F32_STEP_ATOL, F32_STEP_RTOL, MEMORISE_FINAL_LOSS,
                           MEMORISE_START_LOSS, SCHEDULE_ATOL, SCHEDULE_RTOL, as_array, assert_clear_error,
                           assert_close, assert_frequencies, describe, diagnose, expect_array, expect_float)

pytestmark = pytest.mark.milestone("M6")

SHAPES = {"w": (4, 3), "emb": (6, 2), "w3": (2, 3, 2), "bias": (3,), "ln.weight": (5,)}


# ----------------------------------------------------------------------------- helpers


def make_params(impl, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    values = {n: rng.standard_normal(s).astype(dtype) for n, s in SHAPES.items()}
    return values, {n: impl.tensor(v.copy(), requires_grad=True) for n, v in values.items()}


def set_grads(impl, params, grads):
    """Give each parameter the gradient ``grads[name]``: backward of sum(p * g) is g."""
    for n, p in params.items():
        impl.backward(impl.sum(impl.mul(p, impl.tensor(grads[n]))))


def oracle_adamw(values, grads_seq, lrs, betas, eps, weight_decay, *, decay_1d=False, l2=False, decay_lr=True,
                 decay_after=False, bias_correction=True, t_offset=0, eps_inside=False, accumulate=False):
    """Closed-form AdamW in float64; decay only on params with 2+ dims. Returns params after each step.

    The keyword switches compute what a known bug would give instead (for evidence-based hints):
    ``decay_1d`` decays 1-D params too, ``l2`` adds wd * p to the gradient, ``decay_lr=False``
    decays by (1 - wd), ``decay_after`` decays after the update, ``bias_correction=False`` uses m
    and v as they are, ``t_offset`` shifts the bias correction's step count, ``eps_inside`` takes
    sqrt(v_hat + eps), ``accumulate`` keeps the previous steps' gradients (zero_grad not working)."""
    p = {n: v.astype(np.float64) for n, v in values.items()}
    m = {n: np.zeros_like(v) for n, v in p.items()}
    v2 = {n: np.zeros_like(v) for n, v in p.items()}
    total = {n: np.zeros_like(v) for n, v in p.items()}
    history = []
    for t, (g, lr) in enumerate(zip(grads_seq, lrs), start=1):
        for n in p:
            wd = weight_decay if p[n].ndim >= 2 or decay_1d else 0.0
            total[n] = (total[n] if accumulate else 0.0) + g[n].astype(np.float64)
            gn = total[n] + (wd * p[n] if l2 else 0.0)
            decay = 0.0 if l2 else (lr * wd if decay_lr else wd)
            if not decay_after:
                p[n] = p[n] - decay * p[n]
            m[n] = betas[0] * m[n] + (1 - betas[0]) * gn
            v2[n] = betas[1] * v2[n] + (1 - betas[1]) * gn * gn
            bc1, bc2 = (1 - betas[0] ** (t + t_offset), 1 - betas[1] ** (t + t_offset)) if bias_correction else (1, 1)
            denom = np.sqrt(v2[n] / bc2 + eps) if eps_inside else np.sqrt(v2[n] / bc2) + eps
            p[n] = p[n] - lr * (m[n] / bc1) / denom
            if decay_after:
                p[n] = p[n] - decay * p[n]
        history.append({n: a.copy() for n, a in p.items()})
    return history


# Known AdamW bugs: the hint, and the oracle switches (or "fixed_lr": optimizer_set_lr ignored) that reproduce it.
ADAMW_BUGS = [
    ("no bias correction (m and v used as they are)", dict(bias_correction=False)),
    ("the bias correction's step count is off by one (1 - beta^(t+1): t counted from 0 or bumped twice)",
     dict(t_offset=1)),
    ("the weight decay is added to the gradient (L2) instead of decoupled (p <- p * (1 - lr*wd))", dict(l2=True)),
    ("the weight decay is applied to 1-D parameters (biases, LayerNorm weights) too", dict(decay_1d=True)),
    ("the weight decay is not multiplied by the learning rate (p <- p * (1 - wd))", dict(decay_lr=False)),
    ("the weight decay is applied after the Adam update instead of before it", dict(decay_after=True)),
    ("eps inside the square root (sqrt(v_hat + eps) instead of sqrt(v_hat) + eps)", dict(eps_inside=True)),
    ("the gradients accumulate across steps (optimizer_zero_grad does not clear them)", dict(accumulate=True)),
    ("the learning rate set before each step is ignored (optimizer_set_lr has no effect)", dict(fixed_lr=True)),
]


def adamw_bug_histories(values, grads_seq, lrs, betas, eps, weight_decay):
    """(hint, the parameters after each step) for every bug in ADAMW_BUGS."""
    out = []
    for hint, flags in ADAMW_BUGS:
        flags = dict(flags)
        steps = [lrs[0]] * len(lrs) if flags.pop("fixed_lr", False) else lrs
        out.append((hint, oracle_adamw(values, grads_seq, steps, betas, eps, weight_decay, **flags)))
    return out


def oracle_lr(it, warmup, decay_iters, max_lr, min_lr):
    if it < warmup:
        return max_lr * (it + 1) / (warmup + 1)
    if it >= decay_iters:
        return min_lr
    r = (it - warmup) / (decay_iters - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (max_lr - min_lr)


def _cosine(it, warmup, decay_iters, max_lr, min_lr, r):
    return min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (max_lr - min_lr) if warmup <= it < decay_iters else None


# Known schedule bugs: the hint, and what the bug returns (None: no different value at this step).
SCHEDULE_BUGS = [
    ("the warmup is off by one (max_lr * step / warmup_iters: 0 at step 0)",
     lambda it, w, d, hi, lo: hi * it / w if it < w else None),
    ("the warmup ends one step late (max_lr * (step + 1) / warmup_iters)",
     lambda it, w, d, hi, lo: hi * (it + 1) / w if it < w else None),
    ("the cosine decays to 0 instead of to min_lr",
     lambda it, w, d, hi, lo: _cosine(it, w, d, hi, 0.0, (it - w) / (d - w))),
    ("the cosine's progress ignores the warmup (r = step / lr_decay_iters)",
     lambda it, w, d, hi, lo: _cosine(it, w, d, hi, lo, it / d)),
    ("the schedule returns 0 (not min_lr) after lr_decay_iters", lambda it, w, d, hi, lo: 0.0 if it >= d else None),
]


def schedule_hint(got, step, warmup, decay_iters, max_lr, min_lr) -> str:
    """The bug whose schedule gives ``got`` at this step, if one does."""
    candidates = [(hint, value) for hint, bug in SCHEDULE_BUGS
                  if (value := bug(step, warmup, decay_iters, max_lr, min_lr)) is not None]
    return diagnose(np.float64(got), candidates, SCHEDULE_RTOL, SCHEDULE_ATOL)


# ----------------------------------------------------------------------------- AdamW


def test_adamw_matches_closed_form_over_10_steps(impl):
    """Several shapes, weight decay 0.1 (on the 2-D/3-D params only), bias correction, and a
    learning rate changed before every step (as a schedule does)."""
    values, params = make_params(impl)
    rng = np.random.default_rng(1)
    grads_seq = [{n: rng.standard_normal(s).astype(np.float32) for n, s in SHAPES.items()} for _ in range(10)]
    lrs = [0.01 * (1 - 0.05 * t) for t in range(10)]
    opt = impl.adamw(params, lr=lrs[0], betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    want = oracle_adamw(values, grads_seq, lrs, (0.9, 0.99), 1e-8, 0.1)
    bugs = adamw_bug_histories(values, grads_seq, lrs, (0.9, 0.99), 1e-8, 0.1)
    for t in range(10):
        impl.optimizer_set_lr(opt, lrs[t])
        set_grads(impl, params, grads_seq[t])
        impl.optimizer_step(opt)
        impl.optimizer_zero_grad(opt)
        for n, p in params.items():
            got = as_array(impl, p)
            assert got.dtype == np.float32, f"AdamW changed the dtype of {n} to {got.dtype} (must stay float32)"
            assert_close(got, want[t][n], F32_STEP_RTOL, F32_STEP_ATOL,
                         f"AdamW parameter {n} {SHAPES[n]} after step {t + 1} vs the closed-form oracle",
                         diagnose(got, [(hint, h[t][n]) for hint, h in bugs], F32_STEP_RTOL, F32_STEP_ATOL))


def test_adamw_first_step_moves_every_element_by_lr(impl):
    """With bias correction, step 1 is m/sqrt(v) = g/|g|: each element moves by exactly lr
    against its gradient, whatever the gradient's scale (here 1e-3 to 1e3)."""
    values, params = make_params(impl)
    rng = np.random.default_rng(2)
    grads = {n: (rng.choice([-1.0, 1.0], size=s) * 10.0 ** rng.uniform(-3, 3, size=s)).astype(np.float32)
             for n, s in SHAPES.items()}
    opt = impl.adamw(params, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    set_grads(impl, params, grads)
    impl.optimizer_step(opt)
    bugs = adamw_bug_histories(values, [grads], [0.01], (0.9, 0.999), 1e-8, 0.0)
    for n, p in params.items():
        got = as_array(impl, p)
        assert_close(got, values[n] - 0.01 * np.sign(grads[n]), ADAMW_SIGN_STEP_RTOL, ADAMW_SIGN_STEP_ATOL,
                     f"AdamW step 1 on {n} (gradients of magnitude 1e-3 to 1e3): expected p - lr*sign(g), since "
                     f"the bias-corrected m/sqrt(v) is g/|g| at step 1",
                     diagnose(got, [(hint, h[0][n]) for hint, h in bugs], ADAMW_SIGN_STEP_RTOL, ADAMW_SIGN_STEP_ATOL))


def test_adamw_weight_decay_is_decoupled_and_skips_1d_params(impl):
    """With zero gradients Adam's update m/(sqrt(v)+eps) is 0, so only the decoupled decay acts:
    params with 2+ dims shrink by exactly (1 - lr*wd) per step; biases and LayerNorm weights
    (1-D) do not move at all."""
    values, params = make_params(impl)
    zeros = {n: np.zeros(s, np.float32) for n, s in SHAPES.items()}
    opt = impl.adamw(params, lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.5)
    for _ in range(3):
        set_grads(impl, params, zeros)
        impl.optimizer_step(opt)
        impl.optimizer_zero_grad(opt)
    bugs = adamw_bug_histories(values, [zeros] * 3, [0.1] * 3, (0.9, 0.99), 1e-8, 0.5)
    for n, p in params.items():
        factor = (1 - 0.1 * 0.5) ** 3 if len(SHAPES[n]) >= 2 else 1.0
        got = as_array(impl, p)
        assert_close(got, values[n] * factor, F32_STEP_RTOL, F32_STEP_ATOL,
                     f"AdamW with zero gradients, 3 steps, lr 0.1, weight_decay 0.5: param {n} {SHAPES[n]} "
                     f"must be scaled by {factor:.6f} (decay multiplies 2+-dim params by 1-lr*wd each step, "
                     f"and 1-D biases/LayerNorm weights not at all)",
                     diagnose(got, [(hint, h[-1][n]) for hint, h in bugs], F32_STEP_RTOL, F32_STEP_ATOL))


# ----------------------------------------------------------------------------- schedule

SCHEDULE = dict(warmup_iters=100, lr_decay_iters=2000, max_lr=1e-3, min_lr=1e-4)


@pytest.mark.parametrize("step,expected,where", [
    (0, 1e-3 * 1 / 101, "step 0: the first warmup value max_lr*1/(warmup+1), not 0"),
    (99, 1e-3 * 100 / 101, "the last warmup step (warmup-1)"),
    (100, 1e-3, "the end of warmup: exactly max_lr"),
    (1050, 5.5e-4, "mid-decay: (max_lr+min_lr)/2"),
    (2000, 1e-4, "the end of the decay: min_lr"),
    (5000, 1e-4, "past the end: flat at min_lr"),
])
def test_lr_schedule_values(impl, step, expected, where):
    call = f"lr_schedule({step}, warmup_iters=100, lr_decay_iters=2000, max_lr=1e-3, min_lr=1e-4)"
    got = expect_float(impl.lr_schedule(step, **SCHEDULE), call, "the learning rate (a float)")
    hint = schedule_hint(got, step, *SCHEDULE.values())
    assert got == pytest.approx(expected, rel=SCHEDULE_RTOL, abs=SCHEDULE_ATOL), (
        f"{call} at {where}: got {got!r}, expected {expected!r} (rel {SCHEDULE_RTOL:g})"
        + (f". Likely cause: {hint}" if hint else ""))


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(warmup=st.integers(0, 50), span=st.integers(1, 200), step=st.integers(0, 400))
def test_lr_schedule_matches_formula_everywhere(impl, warmup, span, step):
    call = f"lr_schedule({step}, warmup_iters={warmup}, lr_decay_iters={warmup + span}, 6e-4, 6e-5)"
    got = expect_float(impl.lr_schedule(step, warmup, warmup + span, 6e-4, 6e-5), call, "the learning rate (a float)")
    want = oracle_lr(step, warmup, warmup + span, 6e-4, 6e-5)
    hint = schedule_hint(got, step, warmup, warmup + span, 6e-4, 6e-5)
    assert got == pytest.approx(want, rel=SCHEDULE_RTOL, abs=SCHEDULE_ATOL), (
        f"{call}: got {got!r}, expected {want!r}" + (f". Likely cause: {hint}" if hint else ""))


# ----------------------------------------------------------------------------- clipping


def grads_with_norm(impl, norm, seed=3):
    rng = np.random.default_rng(seed)
    gs = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 2)]]
    scale = norm / math.sqrt(sum(float(np.sum(g * g)) for g in gs))
    gs = [g * scale for g in gs]
    params = [impl.tensor(np.zeros(g.shape), requires_grad=True) for g in gs]
    for p, g in zip(params, gs):
        impl.backward(impl.sum(impl.mul(p, impl.tensor(g))))
    return params, gs


@pytest.mark.parametrize("norm,max_norm", [(5.0, 1.0), (0.5, 1.0), (1e-3, 1.0)])
def test_clip_grad_norm(impl, norm, max_norm):
    params, gs = grads_with_norm(impl, norm)
    call = f"clip_grad_norm(3 params with a global gradient norm of {norm}, max_norm={max_norm})"
    got = expect_float(impl.clip_grad_norm(params, max_norm), call, "the total norm before clipping (a float)")
    hint = diagnose(np.float64(got), [
        ("returned the norm after clipping (min(norm, max_norm))", min(norm, max_norm)),
        ("the norm of the last parameter's gradient only", math.sqrt(float(np.sum(gs[-1] ** 2)))),
        ("the norm of the first parameter's gradient only", math.sqrt(float(np.sum(gs[0] ** 2)))),
        ("the squared norm (no square root)", norm ** 2),
        ("the sum of the per-parameter norms instead of the norm of all gradients together",
         math.fsum(math.sqrt(float(np.sum(g ** 2))) for g in gs)),
    ], CLIP_NORM_RTOL, 0.0)
    assert got == pytest.approx(norm, rel=CLIP_NORM_RTOL), (
        f"{call} must return the global norm sqrt(sum of every gradient's squares) BEFORE clipping: got {got}, "
        f"expected {norm} (rel {CLIP_NORM_RTOL:g})" + (f". Likely cause: {hint}" if hint else ""))
    after = [np.asarray(impl.grad(p), dtype=np.float64) for p in params]
    if norm > max_norm:
        total = math.sqrt(sum(float(np.sum(a * a)) for a in after))
        assert total == pytest.approx(max_norm, rel=CLIP_SCALED_RTOL), (
            f"after clipping a global norm of {norm} to {max_norm} the norm is {total} (rel {CLIP_SCALED_RTOL:g})")
        for i, (a, g) in enumerate(zip(after, gs)):
            assert_close(a, g * (max_norm / norm), CLIP_SCALED_RTOL, CLIP_SCALED_ATOL,
                         f"clipped gradient of parameter {i} {g.shape}: every gradient scaled by the same factor "
                         f"max_norm/norm")
    else:
        for a, g in zip(after, gs):
            assert_close(a, g, CLIP_UNCHANGED_RTOL, 0.0,
                         f"a global norm of {norm} <= max_norm {max_norm} must leave the gradients unchanged "
                         f"(clipping only scales DOWN, only above the max)")


# ----------------------------------------------------------------------------- get_batch


def batch(impl, data, batch_size, block_size, seed):
    """``get_batch``'s (x, y) as arrays of shape (batch_size, block_size); a wrong return is named."""
    call = f"get_batch(data of {len(data)} tokens, batch_size={batch_size}, block_size={block_size}, seed={seed})"
    out = impl.get_batch(data, batch_size, block_size, seed)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise AssertionError(f"{call} returned {describe(out)}, expected a pair (x, y) of arrays")
    return tuple(expect_array(a, f"{call}: {name}", (batch_size, block_size), "iu",
                              f"an integer array of shape {(batch_size, block_size)}") for a, name in zip(out, "xy"))


def test_get_batch_shapes_dtype_and_shift(impl):
    data = np.arange(1000, dtype=np.uint16)  # the value of each token is its position
    x, y = batch(impl, data, 8, 16, 0)
    assert x.dtype == np.int64 and y.dtype == np.int64, f"x, y must be int64, got {x.dtype}, {y.dtype}"
    bad = [b for b in range(8) if not np.array_equal(x[b], x[b, 0] + np.arange(16))]
    assert not bad, f"each row of x must be a contiguous window data[i : i+T]; row {bad[0]} is {x[bad[0]].tolist()}"
    bad = [b for b in range(8) if not np.array_equal(y[b], x[b] + 1)]
    assert not bad, (f"targets must be the inputs shifted by one, y = data[i+1 : i+T+1]; row {bad[0]}: "
                     f"x {x[bad[0]].tolist()}, y {y[bad[0]].tolist()}")


def test_get_batch_windows_cover_exactly_the_valid_range(impl):
    """With len(data) = T + 3 the valid window starts are 0, 1, 2 (the last target is data[-1]);
    300 draws must use all three and nothing else."""
    data = np.arange(19, dtype=np.uint16)
    x, y = batch(impl, data, 300, 16, 1)
    starts = set(x[:, 0].tolist())
    assert starts == {0, 1, 2}, f"window starts drawn: {sorted(starts)}, expected exactly {{0, 1, 2}}"
    assert int(y.max()) == 18, "the last window's targets must reach the last token"


def test_get_batch_starts_are_uniform(impl):
    """Every valid start equally likely: with len(data) = T + 10 there are 10 starts; the start
    frequencies of 5,000 windows must pass a chi-square goodness-of-fit test against uniform at
    significance BATCH_ALPHA (a correct sampler fails it for one seed in 1,000; this seed is fixed)."""
    T, n_starts, draws = 8, 10, 5000
    data = np.arange(T + n_starts, dtype=np.uint16)
    x, _ = batch(impl, data, draws, T, 2)
    starts = x[:, 0]
    assert starts.min() >= 0 and starts.max() < n_starts, (
        f"window starts must lie in [0, len(data) - block_size) = [0, {n_starts}), got {starts.min()}..{starts.max()}")
    counts = np.bincount(starts, minlength=n_starts)
    ends, middle = (counts[0] + counts[-1]) / 2, counts[1:-1].mean()
    hint = ("the two end starts are drawn about half as often as the others: a start rounded from a float "
            "(round(u * (n - 1))) instead of an integer drawn uniformly" if 0.3 < ends / middle < 0.7 else "")
    assert_frequencies(counts, np.full(n_starts, 1 / n_starts), BATCH_ALPHA,
                       f"get_batch window starts over the {n_starts} valid starts ({draws} windows, seed 2) vs uniform",
                       hint)


def test_get_batch_is_seeded(impl):
    data = np.arange(5000, dtype=np.uint16)
    a = batch(impl, data, 4, 8, 123)
    b = batch(impl, data, 4, 8, 123)
    c = batch(impl, data, 4, 8, 124)
    assert np.array_equal(a[0], b[0]), f"same seed 123 must give the same batch: {a[0][:, 0]} vs {b[0][:, 0]}"
    assert not np.array_equal(a[0], c[0]), "different seeds gave the same batch"


# ----------------------------------------------------------------------------- checkpoints and training

TINY = dict(block_size=16, vocab_size=11, n_layer=1, n_head=2, n_embd=16, dropout=0.0, bias=True)


def _train_steps(impl, model, opt, batches):
    losses = []
    for x, y in batches:
        _, loss = impl.gpt_forward(model, x, y)
        losses.append(float(as_array(impl, loss)))
        impl.backward(loss)
        impl.optimizer_step(opt)
        impl.optimizer_zero_grad(opt)
    return losses


def _params(impl, model):
    return {n: as_array(impl, p).copy() for n, p in impl.gpt_parameters(model).items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_checkpoint_round_trip_continues_bit_identically(impl, tmp_path, dtype):
    """Train 3 steps, save, train 3 more; load and train the same 3: the same losses and
    parameters, bit for bit, and the model's dtype restored (a float64 model comes back float64)."""
    model = impl.gpt_model(TINY, impl.gpt_init(TINY, seed=0), dtype=dtype)
    opt = impl.adamw(impl.gpt_parameters(model), lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 11, (2, 16)), rng.integers(0, 11, (2, 16))) for _ in range(6)]
    _train_steps(impl, model, opt, batches[:3])
    path = str(tmp_path / "ckpt.npz")
    impl.save_checkpoint(path, model, opt, 3)
    at_save = _params(impl, model)
    continued = _train_steps(impl, model, opt, batches[3:])

    loaded = impl.load_checkpoint(path)
    if not (isinstance(loaded, (tuple, list)) and len(loaded) == 3):
        raise AssertionError(f"load_checkpoint returned {describe(loaded)}, expected (model, optimizer, step)")
    model2, opt2, step = loaded
    assert step == 3, f"load_checkpoint returned step {step!r}, saved 3"
    for n, a in _params(impl, model2).items():
        assert a.dtype == at_save[n].dtype, (
            f"restored parameter {n} is {a.dtype}, but the saved {np.dtype(dtype).name} model's was "
            f"{at_save[n].dtype}: a checkpoint must restore the model's dtype")
        assert np.array_equal(a, at_save[n]), (
            f"restored parameter {n} differs from the saved one (max |diff| "
            f"{np.max(np.abs(a.astype(np.float64) - at_save[n])):.3g}): save/load must be bit-exact")
    resumed = _train_steps(impl, model2, opt2, batches[3:])
    assert resumed == continued, (
        f"3 steps after save+load gave losses {resumed}, the uninterrupted run {continued}: resuming must be "
        f"bit-identical (save the optimizer's moments AND its step count t for the bias correction)")
    final, final2 = _params(impl, model), _params(impl, model2)
    for n in final:
        assert np.array_equal(final[n], final2[n]), f"after resuming, parameter {n} differs from the uninterrupted run"


def test_bad_checkpoint_files_are_clear_errors(impl, tmp_path):
    model = impl.gpt_model(TINY, impl.gpt_init(TINY, seed=0), dtype=np.float32)
    opt = impl.adamw(impl.gpt_parameters(model), lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    path = tmp_path / "run1.npz"
    impl.save_checkpoint(str(path), model, opt, 0)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    foreign = tmp_path / "notes.npz"
    foreign.write_text("not a checkpoint")
    for bad, what in [(path, "a truncated checkpoint"), (foreign, "a foreign file")]:
        with assert_clear_error(f"load_checkpoint of {what}", names=[re.escape(bad.name)],
                                hint="the error message must name the file"):
            impl.load_checkpoint(str(bad))


@pytest.mark.slow
def test_tiny_model_memorises_a_sequence(impl):
    """All the pieces together: a 1-layer GPT learns a fixed random 16-token sequence (the only
    window of a 17-token dataset) with AdamW, warmup+cosine and clipping. 150 steps take the
    loss from ~ln(11) = 2.4 to below 0.05."""
    data = np.random.default_rng(7).integers(0, 11, 17).astype(np.uint16)
    model = impl.gpt_model(TINY, impl.gpt_init(TINY, seed=0), dtype=np.float32)
    params = impl.gpt_parameters(model)
    opt = impl.adamw(params, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    losses = []
    for it in range(150):
        impl.optimizer_set_lr(opt, impl.lr_schedule(it, 10, 150, 1e-2, 1e-3))
        x, y = impl.get_batch(data, 4, 16, it)
        _, loss = impl.gpt_forward(model, np.asarray(x), np.asarray(y))
        losses.append(float(as_array(impl, loss)))
        impl.backward(loss)
        impl.clip_grad_norm(list(params.values()), 1.0)
        impl.optimizer_step(opt)
        impl.optimizer_zero_grad(opt)
    assert losses[0] > MEMORISE_START_LOSS and losses[-1] < MEMORISE_FINAL_LOSS, (
        f"memorising one 16-token window: loss {losses[0]:.3f} -> {losses[-1]:.4f} after 150 steps, expected "
        f"> {MEMORISE_START_LOSS} -> < {MEMORISE_FINAL_LOSS} (losses every 25 steps: "
        f"{[round(v, 3) for v in losses[::25]]})")
