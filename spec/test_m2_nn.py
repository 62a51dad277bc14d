"""M2 contracts: the layers' functional forms (linear, layer_norm, embedding, gelu, softmax,
log_softmax, cross_entropy, dropout), graded through the adapter.

Expected values come from spec/oracle.py (plain float64 NumPy); gradients from central finite
differences in float64 (spec/numerics.check_grads). Tolerances:

* float64 forward vs oracle: ``OP_RTOL = 1e-9``, ``OP_ATOL = 1e-11`` (rounding-order only).
* gradients vs finite differences: ``GRAD_RTOL = 1e-5``, ``GRAD_ATOL = 1e-7``.
* float32 forward vs the float64 oracle: ``F32_RTOL = 1e-4``, ``F32_ATOL = 1e-5``.
* dropout kept fraction: within ``DROPOUT_SIGMAS = 5`` binomial standard deviations of 1 - p
  (false alarm < 1e-6); kept values and gradients x / (1 - p) within ``DROPOUT_SCALE_RTOL``.
* every op once more at a realistic size (~3e5 elements: size-dependent fast paths), gradients on
  sampled coordinates with the finite-difference step ``LARGE_FD_EPS``.

Each tolerance is defined, with its reason, in spec/numerics.py. Bad input must raise a clear error
(spec/numerics.assert_clear_error: the one rule) whose message names the problem.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec import oracle
from spec.numerics import (
    DROPOUT_SCALE_RTOL, DROPOUT_SIGMAS, F32_ATOL, F32_RTOL, HUGE_LOSS_ATOL, LARGE_FD_EPS, OP_ATOL, OP_RTOL, as_array,
    assert_clear_error, assert_close, check_grads, diagnose, shape_regex,
)

pytestmark = pytest.mark.milestone("M2")

LEADING = [(), (3,), (2, 3)]  # leading dims every op must accept


def rand(shape, seed=0, scale=1.0, dtype=np.float64):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def arr(impl, t):
    return as_array(impl, t)


# ----------------------------------------------------------------------------- linear


@pytest.mark.parametrize("lead", LEADING, ids=str)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
def test_linear_forward_matches_oracle(impl, lead, with_bias):
    x, w, b = rand(lead + (5,), 1), rand((5, 4), 2), rand((4,), 3)
    out = impl.linear(impl.tensor(x), impl.tensor(w), impl.tensor(b) if with_bias else None)
    assert_close(arr(impl, out), oracle.linear(x, w, b if with_bias else None), OP_RTOL, OP_ATOL,
                 f"linear(x {x.shape}, weight (in, out) {w.shape}) vs oracle x @ W + b "
                 "(the weight layout is (in_features, out_features): no transpose)")


def test_linear_grads(impl):
    check_grads(impl, impl.linear, [rand((2, 3, 5), 1), rand((5, 4), 2), rand((4,), 3)],
                what="linear(x, W, b) gradients w.r.t. x, W and b (dW = x^T g summed over leading dims, db = sum g)")


def test_linear_shape_mismatch_is_a_clear_error(impl):
    """x (2, 5) with a weight (6, 4): a clear error whose message names both shapes."""
    with assert_clear_error("linear(x (2, 5), weight (6, 4))", names=[shape_regex((2, 5)), shape_regex((6, 4))],
                            hint="name the input's and the weight's shapes, so the user sees which dim disagrees"):
        impl.linear(impl.tensor(rand((2, 5))), impl.tensor(rand((6, 4))))


# ----------------------------------------------------------------------------- layer_norm


@pytest.mark.parametrize("lead", LEADING, ids=str)
def test_layer_norm_forward_matches_oracle(impl, lead):
    x, w, b = rand(lead + (6,), 1, scale=3.0) + 2.0, rand((6,), 2), rand((6,), 3)
    out = impl.layer_norm(impl.tensor(x), impl.tensor(w), impl.tensor(b))
    assert_close(arr(impl, out), oracle.layer_norm(x, w, b), OP_RTOL, OP_ATOL,
                 f"layer_norm(x {x.shape}) vs oracle (normalise over the last dim with the BIASED variance "
                 "mean((x-mu)^2), eps=1e-5 inside the sqrt)")


def test_layer_norm_without_bias(impl):
    x, w = rand((3, 6), 1), rand((6,), 2)
    out = impl.layer_norm(impl.tensor(x), impl.tensor(w), None)
    assert_close(arr(impl, out), oracle.layer_norm(x, w, None), OP_RTOL, OP_ATOL, "layer_norm with bias=None")


def test_layer_norm_with_bias_but_no_weight(impl):
    """weight None with a bias: y = xhat + bias (the bias still applies, and gets its gradient)."""
    x, b = rand((3, 6), 1, scale=2.0), rand((6,), 3)
    out = impl.layer_norm(impl.tensor(x), None, impl.tensor(b))
    hint = diagnose(arr(impl, out), [("the bias was dropped because the weight is None: apply weight and bias "
                                      "independently", oracle.layer_norm(x, None, None))], OP_RTOL, OP_ATOL)
    assert_close(arr(impl, out), oracle.layer_norm(x, None, b), OP_RTOL, OP_ATOL, "layer_norm with weight=None and a bias",
                 hint)
    check_grads(impl, lambda x, b: impl.layer_norm(x, None, b), [x, b],
                what="layer_norm(x, None, bias) gradients w.r.t. x and bias")


def test_layer_norm_eps_is_used_and_constant_rows_are_finite(impl):
    x = np.full((2, 8), 3.0)
    x[1] = [0, 1e-3, 0, 1e-3, 0, 1e-3, 0, 1e-3]  # variance 2.5e-7, comparable to eps
    w, b = np.ones(8), rand((8,), 3)
    out = impl.layer_norm(impl.tensor(x), impl.tensor(w), impl.tensor(b), eps=1e-5)
    assert_close(arr(impl, out), oracle.layer_norm(x, w, b, eps=1e-5), OP_RTOL, OP_ATOL,
                 "layer_norm of a constant row (must give exactly the bias) and of a tiny-variance row "
                 "(eps=1e-5 must be added to the variance inside the sqrt)")


def test_layer_norm_grads(impl):
    check_grads(impl, impl.layer_norm, [rand((2, 3, 6), 1, scale=2.0), rand((6,), 2), rand((6,), 3)],
                what="layer_norm(x, weight, bias) gradients")


# ----------------------------------------------------------------------------- embedding


def test_embedding_forward_any_ids_shape(impl):
    w = rand((7, 4), 1)
    for ids in (np.array(3), np.array([0, 6, 6]), np.array([[1, 2, 1], [6, 0, 1]])):
        out = impl.embedding(ids, impl.tensor(w))
        assert_close(arr(impl, out), oracle.embedding(ids, w), 0, 0, f"embedding(ids {ids.shape}) vs weight[ids]")


def test_embedding_grad_scatter_adds_repeated_ids(impl):
    ids = np.array([[1, 2, 1], [6, 1, 1]])
    check_grads(impl, lambda w: impl.embedding(ids, w), [rand((7, 4), 1)],
                what="embedding gradient w.r.t. weight with the id 1 used four times (the gradient must "
                     "scatter-ADD, np.add.at, not assign: row 1 gets the sum of its four upstream rows)")


@pytest.mark.parametrize("bad", [7, 100, -1, -7], ids=["id=V", "id>V", "id=-1", "id=-V"])
def test_embedding_out_of_range_id_is_a_clear_error(impl, bad):
    """An id outside [0, V) is a clear error naming the id. A negative id too: NumPy indexing would
    silently wrap it around to row V + id, training the wrong row."""
    with assert_clear_error(f"embedding(ids [0, {bad}], a table of V=7 rows)", names=[rf"(?<![\d-]){bad}(?!\d)"],
                            hint="check 0 <= id < V before indexing (negative ids must not wrap around)"):
        impl.embedding(np.array([0, bad]), impl.tensor(rand((7, 4))))


# ----------------------------------------------------------------------------- gelu


def test_gelu_forward_is_the_tanh_approximation(impl):
    x = np.linspace(-6, 6, 240).reshape(3, 80)
    got = arr(impl, impl.gelu(impl.tensor(x)))
    hint = diagnose(got, [("this is the exact erf GELU x * Phi(x) (it differs from GPT-2's tanh form by up to ~5e-4): "
                           "use the tanh approximation", oracle.gelu_erf(x))], OP_RTOL, OP_ATOL)
    assert_close(got, oracle.gelu(x), OP_RTOL, OP_ATOL,
                 "gelu vs GPT-2's tanh approximation 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))", hint)


def test_gelu_grads(impl):
    check_grads(impl, impl.gelu, [rand((2, 3, 4), 1, scale=2.0)], what="gelu gradient")


# ----------------------------------------------------------------------------- softmax / log_softmax


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 5), -1), ((2, 3, 5), -1), ((2, 3, 5), 1), ((4, 3), 0)],
                         ids=["1d", "2d", "3d", "3d-axis1", "2d-axis0"])
def test_softmax_forward_matches_oracle(impl, name, shape, axis):
    x = rand(shape, 1, scale=3.0)
    out = getattr(impl, name)(impl.tensor(x), axis=axis)
    assert_close(arr(impl, out), getattr(oracle, name)(x, axis), OP_RTOL, OP_ATOL,
                 f"{name}(x {shape}, axis={axis}) vs oracle")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_is_stable_for_huge_inputs(impl, name):
    x = rand((3, 6), 1) * 1e4
    x[0, :] = 1e4  # ties at the maximum
    got = arr(impl, getattr(impl, name)(impl.tensor(x)))
    assert np.all(np.isfinite(got)), (
        f"{name} of inputs of magnitude 1e4 gave non-finite values {got}: exp(1e4) overflows, so subtract "
        "the row max before exponentiating")
    assert_close(got, getattr(oracle, name)(x), OP_RTOL, OP_ATOL, f"{name} of inputs of magnitude 1e4")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_grads(impl, name, axis):
    check_grads(impl, lambda x: getattr(impl, name)(x, axis=axis), [rand((3, 4), 1, scale=2.0)],
                what=f"{name}(axis={axis}) gradient")


# ----------------------------------------------------------------------------- cross_entropy


def ce_case(lead=(2, 5), V=7, seed=0, ignore=True):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(lead + (V,)) * 2.0
    targets = rng.integers(0, V, size=lead)
    if ignore:
        targets.reshape(-1)[::3] = -1  # every third position ignored
    return logits, targets


@pytest.mark.parametrize("lead", [(6,), (2, 5)], ids=str)
@pytest.mark.parametrize("ignore", [False, True], ids=["all_targets", "some_ignored"])
def test_cross_entropy_forward_matches_oracle(impl, lead, ignore):
    logits, targets = ce_case(lead, ignore=ignore)
    loss = impl.cross_entropy(impl.tensor(logits), targets)
    got = arr(impl, loss)
    assert got.shape == (), f"cross_entropy must return a scalar (shape ()), got shape {got.shape}"
    assert_close(got, oracle.cross_entropy(logits, targets), OP_RTOL, OP_ATOL,
                 f"cross_entropy(logits {logits.shape}, targets {targets.shape}, ignore_index=-1) vs oracle: the "
                 "mean of -log_softmax(logits)[target] over the NON-ignored positions only (ignored targets "
                 "count neither in the sum nor in the denominator)")


def test_cross_entropy_custom_ignore_index(impl):
    logits, targets = ce_case((8,), ignore=False)
    targets[[1, 4]] = 3
    got = arr(impl, impl.cross_entropy(impl.tensor(logits), targets, ignore_index=3))
    assert_close(got, oracle.cross_entropy(logits, targets, ignore_index=3), OP_RTOL, OP_ATOL,
                 "cross_entropy with ignore_index=3 (positions whose target is 3 must be skipped)")


def test_cross_entropy_grads_and_ignored_rows_get_zero_gradient(impl):
    logits, targets = ce_case((2, 5))
    check_grads(impl, lambda z: impl.cross_entropy(z, targets), [logits],
                what="cross_entropy gradient w.r.t. logits ((softmax - onehot) / n_kept on kept rows, 0 on ignored)")
    z = impl.tensor(logits, requires_grad=True)
    impl.backward(impl.cross_entropy(z, targets))
    g = np.asarray(impl.grad(z))
    assert np.all(g[targets == -1] == 0), "rows whose target is ignore_index must get exactly zero gradient"


def test_cross_entropy_is_stable_for_huge_logits(impl):
    logits, targets = ce_case((2, 5), seed=1)
    logits = logits * 1e4
    z = impl.tensor(logits, requires_grad=True)
    loss = impl.cross_entropy(z, targets)
    impl.backward(loss)
    got, g = arr(impl, loss), np.asarray(impl.grad(z))
    assert np.isfinite(got) and np.all(np.isfinite(g)), (
        f"cross_entropy of logits of magnitude 1e4 gave loss {got} / non-finite gradients: fuse it with a "
        "max-subtracted log-softmax instead of log(softmax(x))")
    assert_close(got, oracle.cross_entropy(logits, targets), OP_RTOL, HUGE_LOSS_ATOL,
                 "cross_entropy of logits of magnitude 1e4 (loss values ~1e4, hence HUGE_LOSS_ATOL)")


@pytest.mark.parametrize("bad", [7, -2], ids=["target=V", "target=-2"])
def test_cross_entropy_target_out_of_range_is_a_clear_error(impl, bad):
    """A target outside [0, V) that is not ignore_index: a clear error naming the target."""
    logits, targets = ce_case((6,), ignore=False)
    targets[2] = bad
    with assert_clear_error(f"cross_entropy with target {bad} for V=7 classes", names=[rf"(?<![\d-]){bad}(?!\d)"]):
        impl.cross_entropy(impl.tensor(logits), targets)


def test_cross_entropy_targets_shape_mismatch_is_a_clear_error(impl):
    """targets (10,) for logits (2, 5, 7): a clear error naming both shapes (no silent flattening)."""
    logits, targets = ce_case((2, 5), ignore=False)
    with assert_clear_error("cross_entropy(logits (2, 5, 7), targets (10,))",
                            names=[shape_regex((10,)), shape_regex((2, 5))]):
        impl.cross_entropy(impl.tensor(logits), targets.reshape(-1))


# ----------------------------------------------------------------------------- dropout


def test_dropout_statistics_and_scaling(impl):
    p, shape = 0.3, (200, 500)
    x = rand(shape, 1)
    got = arr(impl, impl.dropout(impl.tensor(x), p, True, 1234))
    kept = got != 0
    frac, bound = kept.mean(), oracle.dropout_kept_fraction_bound(p, x.size, DROPOUT_SIGMAS)
    assert abs(frac - (1 - p)) <= bound, (
        f"dropout(p={p}) kept {frac:.4f} of {x.size} elements; expected 1-p = {1 - p} +- {bound:.4f} "
        "(5 binomial standard deviations): each element must be kept independently with probability 1-p")
    assert_close(got[kept], x[kept] / (1 - p), DROPOUT_SCALE_RTOL, 0,
                 "kept dropout values vs x / (1 - p) (inverted dropout rescales the survivors so E[out] = x)")


def test_dropout_gradient_is_the_scaled_mask(impl):
    p = 0.5
    x = impl.tensor(rand((8, 16), 1), requires_grad=True)
    out = impl.dropout(x, p, True, 7)
    r = rand((8, 16), 2)
    impl.backward(out, r)
    mask = arr(impl, out) != 0
    assert_close(np.asarray(impl.grad(x)), np.where(mask, r / (1 - p), 0.0), DROPOUT_SCALE_RTOL, 0,
                 "dropout gradient vs upstream * mask / (1 - p) (the same mask as the forward)")


@pytest.mark.parametrize("training,p", [(False, 0.5), (True, 0.0)], ids=["eval", "p=0"])
def test_dropout_identity_in_eval_or_p0(impl, training, p):
    x = rand((4, 5), 1)
    got = arr(impl, impl.dropout(impl.tensor(x), p, training, 0))
    assert_close(got, x, 0, 0, f"dropout(training={training}, p={p}) must return x unchanged")


def test_dropout_same_seed_same_mask(impl):
    x = impl.tensor(np.ones((50, 40)))
    a, b = arr(impl, impl.dropout(x, 0.4, True, 11)), arr(impl, impl.dropout(x, 0.4, True, 11))
    c = arr(impl, impl.dropout(x, 0.4, True, 12))
    assert np.array_equal(a, b), "dropout with the same seed must give the same mask (determinism)"
    assert not np.array_equal(a, c), "dropout with different seeds gave identical masks: is the seed used?"


def test_dropout_p1_drops_everything(impl):
    got = arr(impl, impl.dropout(impl.tensor(rand((4, 5), 1)), 1.0, True, 0))
    assert_close(got, np.zeros((4, 5)), 0, 0, "dropout(p=1) must zero every element (and never divide by 0)")


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_p_is_a_clear_error(impl, p):
    """p outside [0, 1]: a clear error naming the bad value (or the parameter p)."""
    with assert_clear_error(f"dropout(p={p})", names=[rf"(?i){re.escape(str(p))}|\bp\b|probability"]):
        impl.dropout(impl.tensor(np.ones(4)), p, True, 0)


# ----------------------------------------------------------------------------- leading dims (property)


def _leading_dims_case(impl, op: str, lead: tuple[int, ...], C: int, seed: int) -> None:
    x, w, b = rand(lead + (C,), seed, scale=2.0), rand((C, 3), seed + 1), rand((C,), seed + 2)
    X = impl.tensor(x)
    got, want = {
        "linear": lambda: (impl.linear(X, impl.tensor(w)), oracle.linear(x, w)),
        "layer_norm": lambda: (impl.layer_norm(X, impl.tensor(b), None), oracle.layer_norm(x, b, None)),
        "gelu": lambda: (impl.gelu(X), oracle.gelu(x)),
        "softmax": lambda: (impl.softmax(X), oracle.softmax(x)),
        "log_softmax": lambda: (impl.log_softmax(X), oracle.log_softmax(x)),
    }[op]()
    assert_close(arr(impl, got), want, OP_RTOL, OP_ATOL,
                 f"{op} on input {x.shape}: an op over the last dim must accept any leading dims (none included) "
                 "and treat every leading index independently")


@pytest.mark.parametrize("op", ["linear", "layer_norm", "gelu", "softmax", "log_softmax"])
def test_any_leading_dims_property(impl, op):
    _leading_dims_case(impl, op, (), 3, 0)  # a missing op is "not implemented" before hypothesis starts

    @settings(max_examples=15, deadline=None, derandomize=True, database=None)
    @given(lead=st.lists(st.integers(1, 3), max_size=3), C=st.integers(2, 6), seed=st.integers(0, 1000))
    def prop(lead, C, seed):
        _leading_dims_case(impl, op, tuple(lead), C, seed)

    prop()


# ----------------------------------------------------------------------------- dtypes, determinism


def _f32_cases(impl):
    x, w, b = rand((2, 3, 6), 1, dtype=np.float32), rand((6,), 2, dtype=np.float32), rand((6,), 3, dtype=np.float32)
    W, b4 = rand((6, 4), 4, dtype=np.float32), rand((4,), 5, dtype=np.float32)
    ids = np.array([[0, 3], [5, 3]])
    logits, targets = ce_case((2, 5), ignore=True)
    logits = logits.astype(np.float32)
    return {
        "linear": ((x, W, b4), lambda x, W, b: impl.linear(x, W, b), lambda: oracle.linear(x, W, b4)),
        "layer_norm": ((x, w, b), lambda x, w, b: impl.layer_norm(x, w, b), lambda: oracle.layer_norm(x, w, b)),
        "embedding": ((W,), lambda W: impl.embedding(ids, W), lambda: oracle.embedding(ids, W)),
        "gelu": ((x,), impl.gelu, lambda: oracle.gelu(x)),
        "softmax": ((x,), impl.softmax, lambda: oracle.softmax(x)),
        "log_softmax": ((x,), impl.log_softmax, lambda: oracle.log_softmax(x)),
        "cross_entropy": ((logits,), lambda z: impl.cross_entropy(z, targets),
                          lambda: np.float64(oracle.cross_entropy(logits, targets))),
        "dropout_eval": ((x,), lambda x: impl.dropout(x, 0.5, False, 0), lambda: x.astype(np.float64)),
    }


@pytest.mark.parametrize("op", ["linear", "layer_norm", "embedding", "gelu", "softmax", "log_softmax",
                                "cross_entropy", "dropout_eval"])
def test_float32_in_float32_out(impl, op):
    inputs, fn, expected = _f32_cases(impl)[op]
    leaves = [impl.tensor(a, requires_grad=True) for a in inputs]
    out = fn(*leaves)
    got = arr(impl, out)
    assert got.dtype == np.float32, f"{op} on float32 inputs returned {got.dtype}: keep float32 (no silent upcast)"
    assert_close(got, expected(), F32_RTOL, F32_ATOL, f"{op} in float32 vs the float64 oracle")
    if op != "dropout_eval":
        impl.backward(out, np.ones(got.shape, dtype=np.float32))
        for i, leaf in enumerate(leaves):
            g = impl.grad(leaf)
            assert g is not None and np.asarray(g).dtype == np.float32, (
                f"{op}: the gradient of float32 input {i} must be float32, got {None if g is None else np.asarray(g).dtype}")


@pytest.mark.parametrize("op", ["linear", "layer_norm", "gelu", "softmax", "cross_entropy"])
def test_repeated_calls_are_bit_identical(impl, op):
    inputs, fn, _ = _f32_cases(impl)[op]
    runs = []
    for _ in range(2):
        leaves = [impl.tensor(a.astype(np.float64), requires_grad=True) for a in inputs]
        out = fn(*leaves)
        impl.backward(out, np.ones(arr(impl, out).shape))
        runs.append([arr(impl, out).copy()] + [np.asarray(impl.grad(t)).copy() for t in leaves])
    for a, b in zip(*runs):
        assert np.array_equal(a, b), f"{op}: two identical calls gave different values/gradients (non-determinism)"


# ----------------------------------------------------------------------------- a realistic size
# Every array above is tiny. An implementation may switch to another code path for large inputs
# (tiled or BLAS-backed reductions, chunked loops, a lower-precision fast path): each op runs once
# more at ~3e5 elements, the forward against the oracle and the gradients on a few sampled
# coordinates against finite differences (LARGE_FD_EPS, see spec/numerics.py).

LARGE_COORDS = 4  # sampled coordinates per input


def _large_cases(impl):
    rng = np.random.default_rng(40)
    x = rng.standard_normal((64, 48, 96))  # 295k elements; 3072 rows
    W, b = 0.1 * rng.standard_normal((96, 128)), rng.standard_normal(128)
    z = 2.0 * rng.standard_normal((600, 500))  # 300k
    h = 3.0 * rng.standard_normal((512, 576)) + 1.0  # 295k
    w_ln, b_ln = 1.0 + 0.1 * rng.standard_normal(576), 0.1 * rng.standard_normal(576)
    logits = 2.0 * rng.standard_normal((8, 64, 512))  # 262k
    targets = rng.integers(0, 512, size=(8, 64))
    targets[:, ::5] = -1
    table = rng.standard_normal((4096, 64))  # 262k
    ids = rng.integers(0, 4096, size=(8, 256))
    ids[:, ::7] = 3  # a repeated id across the batch
    return {
        "linear": ([x, W, b], lambda x, W, b: impl.linear(x, W, b), lambda: oracle.linear(x, W, b)),
        "layer_norm": ([h, w_ln, b_ln], lambda x, w, b: impl.layer_norm(x, w, b),
                       lambda: oracle.layer_norm(h, w_ln, b_ln)),
        "softmax": ([z], lambda z: impl.softmax(z), lambda: oracle.softmax(z)),
        "softmax-axis0": ([z], lambda z: impl.softmax(z, axis=0), lambda: oracle.softmax(z, 0)),
        "log_softmax": ([z], lambda z: impl.log_softmax(z), lambda: oracle.log_softmax(z)),
        "gelu": ([z], lambda z: impl.gelu(z), lambda: oracle.gelu(z)),
        "cross_entropy": ([logits], lambda l: impl.cross_entropy(l, targets),
                          lambda: oracle.cross_entropy(logits, targets)),
        "embedding": ([table], lambda t: impl.embedding(ids, t), lambda: oracle.embedding(ids, table)),
    }


@pytest.mark.parametrize("op", ["linear", "layer_norm", "softmax", "softmax-axis0", "log_softmax", "gelu",
                                "cross_entropy", "embedding"])
def test_ops_at_a_realistic_size(impl, op):
    """The op on ~3e5 elements: forward vs the oracle, gradients on sampled coordinates."""
    inputs, fn, expected = _large_cases(impl)[op]
    out = fn(*[impl.tensor(a) for a in inputs])
    shapes = ", ".join(str(a.shape) for a in inputs)
    assert_close(arr(impl, out), expected(), OP_RTOL, OP_ATOL,
                 f"{op} of inputs {shapes} (a realistic size) vs oracle",
                 "the small-size contracts pass, so look for a code path taken only for large inputs")
    check_grads(impl, fn, inputs, max_coords=LARGE_COORDS, eps=LARGE_FD_EPS, what=f"{op} of inputs {shapes} (a realistic size) gradients")
