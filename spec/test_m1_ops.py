"""M1 contracts, op by op: every Tensor op's forward equals NumPy, and its backward matches
central finite differences in float64.

Each case below is one op in one situation (broadcast shapes, size-1 dims, keepdims, negative
and tuple axes, steps and repeated integer indices, ...). For every case:

* ``test_forward``: the op's float64 result equals the same formula in NumPy, within
  ``FWD_RTOL``/``FWD_ATOL`` (rounding-order differences only), with the same shape.
* ``test_backward``: the gradient of ``L = sum(op(x) * r)`` (a fixed random ``r``) w.r.t. every
  floating input equals central finite differences (``FD_EPS``) within ``GRAD_RTOL``/``GRAD_ATOL``;
  see spec/numerics.py.

Inputs keep away from the places where an op is not differentiable (relu at 0, ties of max, log
and fractional powers of non-positive numbers), so that finite differences are a valid oracle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

from spec.numerics import FWD_ATOL, FWD_RTOL, LARGE_FD_EPS, OP_ATOL, OP_RTOL, as_array, assert_close, check_grads

pytestmark = pytest.mark.milestone("M1")


# ----------------------------------------------------------------------------- inputs
# Seeds are offset by 1000 so that no input equals check_grads' random projection r (seed 0): with
# r == A, a matmul gradient with the wrong transpose (G^T A instead of A^T G) would look right.


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    """Standard-normal float64 values."""
    return np.random.default_rng(1000 + seed).standard_normal(shape)


def positive(*shape: int, seed: int = 0) -> np.ndarray:
    """Values in [0.5, 2]: safe for log, division and fractional powers."""
    return np.random.default_rng(1000 + seed).uniform(0.5, 2.0, shape)


def away_from_zero(*shape: int, seed: int = 0) -> np.ndarray:
    """|x| in [0.2, 2] with random signs: relu's kink at 0 stays far from the FD step."""
    rng = np.random.default_rng(1000 + seed)
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def through_zero(*shape: int, seed: int = 0) -> np.ndarray:
    """Standard-normal values with every third element exactly 0 (integer powers are smooth there)."""
    x = randn(*shape, seed=seed)
    x.reshape(-1)[::3] = 0.0
    return x


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """A shuffle of evenly spaced values 0.1 apart: every max is unique by a wide margin."""
    n = int(np.prod(shape))
    return (np.random.default_rng(1000 + seed).permutation(n) * 0.1 - 0.05 * n).reshape(shape)


# ----------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One op in one situation: ``build(impl, *tensors)`` vs ``numpy(*arrays)`` on ``inputs``."""

    id: str
    build: Callable[..., Any]
    numpy: Callable[..., np.ndarray]
    inputs: tuple[np.ndarray, ...]
    hint: str = ""


def case(id: str, build, numpy, *inputs: np.ndarray, hint: str = "") -> Any:
    return pytest.param(Case(id, build, numpy, inputs, hint), id=id)


BCAST = "a broadcast input's gradient must be summed over the broadcast dims (unbroadcast)"
REDUCE = "the gradient of a reduction must be re-expanded over the reduced axes (keepdims or not)"
POW0 = ("an integer power is smooth at x = 0: compute p * x ** (p - 1), not p * out / x (0 / 0 = NaN at x = 0), "
        "and x ** 0 = 1 there")

CASES = [
    # elementwise binary ops, same shape, broadcast, size-1 dims, and Python scalars
    case("add", lambda m, a, b: m.add(a, b), np.add, randn(3, 4), randn(3, 4, seed=1)),
    case("add-bcast-row", lambda m, a, b: m.add(a, b), np.add, randn(3, 4), randn(4, seed=1), hint=BCAST),
    case("add-bcast-both", lambda m, a, b: m.add(a, b), np.add, randn(3, 1), randn(1, 4, seed=1), hint=BCAST),
    case("add-bcast-rank", lambda m, a, b: m.add(a, b), np.add, randn(2, 3, 4), randn(3, 1, seed=1), hint=BCAST),
    case("add-scalar-shape", lambda m, a, b: m.add(a, b), np.add, randn(2, 3), randn(seed=1), hint=BCAST),
    case("add-python-float", lambda m, a: m.add(a, 2.5), lambda a: a + 2.5, randn(2, 3)),
    case("sub", lambda m, a, b: m.sub(a, b), np.subtract, randn(3, 4), randn(3, 4, seed=1)),
    case("sub-bcast", lambda m, a, b: m.sub(a, b), np.subtract, randn(4, 1), randn(1, 3, seed=1), hint=BCAST),
    case("sub-python-float", lambda m, a: m.sub(a, 0.5), lambda a: a - 0.5, randn(2, 3)),
    case("mul", lambda m, a, b: m.mul(a, b), np.multiply, randn(3, 4), randn(3, 4, seed=1)),
    case("mul-bcast", lambda m, a, b: m.mul(a, b), np.multiply, randn(2, 1, 4), randn(3, 1, seed=1), hint=BCAST),
    case("mul-python-float", lambda m, a: m.mul(a, -1.5), lambda a: a * -1.5, randn(2, 3)),
    case("mul-self", lambda m, a: m.mul(a, a), lambda a: a * a, randn(2, 3),
         hint="the same tensor as both operands: both contributions must be summed (2a)"),
    case("div", lambda m, a, b: m.div(a, b), np.divide, randn(3, 4), positive(3, 4, seed=1)),
    case("div-bcast", lambda m, a, b: m.div(a, b), np.divide, randn(3, 4), positive(3, 1, seed=1), hint=BCAST),
    case("div-python-float", lambda m, a: m.div(a, 4.0), lambda a: a / 4.0, randn(2, 3)),
    # unary ops
    case("neg", lambda m, a: m.neg(a), np.negative, randn(3, 4)),
    case("pow-2", lambda m, a: m.pow(a, 2.0), lambda a: a ** 2.0, randn(3, 4)),
    case("pow-3", lambda m, a: m.pow(a, 3.0), lambda a: a ** 3.0, randn(3, 4)),
    case("pow-2-through-zero", lambda m, a: m.pow(a, 2.0), lambda a: a ** 2.0, through_zero(3, 4), hint=POW0),
    case("pow-3-through-zero", lambda m, a: m.pow(a, 3.0), lambda a: a ** 3.0, through_zero(3, 4), hint=POW0),
    case("pow-1-through-zero", lambda m, a: m.pow(a, 1.0), lambda a: a ** 1.0, through_zero(3, 4), hint=POW0),
    case("pow-0.5", lambda m, a: m.pow(a, 0.5), np.sqrt, positive(3, 4)),
    case("pow-minus-1", lambda m, a: m.pow(a, -1.0), lambda a: 1.0 / a, positive(3, 4)),
    case("pow-1.5", lambda m, a: m.pow(a, 1.5), lambda a: a ** 1.5, positive(3, 4)),
    case("relu", lambda m, a: m.relu(a), lambda a: np.maximum(a, 0.0), away_from_zero(4, 5),
         hint="relu passes the gradient where x > 0 and blocks it where x < 0"),
    case("exp", lambda m, a: m.exp(a), np.exp, randn(3, 4)),
    case("log", lambda m, a: m.log(a), np.log, positive(3, 4)),
    case("tanh", lambda m, a: m.tanh(a), np.tanh, randn(3, 4)),
    # matmul: 2-D, batched, broadcast batch dims
    case("matmul-2d", lambda m, a, b: m.matmul(a, b), np.matmul, randn(4, 5), randn(5, 3, seed=1),
         hint="dA = G @ B^T and dB = A^T @ G"),
    case("matmul-square", lambda m, a, b: m.matmul(a, b), np.matmul, randn(4, 4), randn(4, 4, seed=1),
         hint="dA = G @ B^T and dB = A^T @ G (a wrong transpose still has the right shape here)"),
    case("matmul-batched-by-2d", lambda m, a, b: m.matmul(a, b), np.matmul, randn(2, 4, 5), randn(5, 3, seed=1),
         hint="a 2-D right operand is shared by the batch: its gradient sums over the batch"),
    case("matmul-batched", lambda m, a, b: m.matmul(a, b), np.matmul, randn(2, 4, 5), randn(2, 5, 3, seed=1)),
    case("matmul-bcast-batch", lambda m, a, b: m.matmul(a, b), np.matmul, randn(2, 1, 3, 4), randn(3, 4, 2, seed=1),
         hint=BCAST),
    case("matmul-2d-by-batched", lambda m, a, b: m.matmul(a, b), np.matmul, randn(3, 4), randn(2, 4, 5, seed=1),
         hint=BCAST),
    # reductions
    case("sum-all", lambda m, a: m.sum(a), lambda a: np.sum(a), randn(3, 4)),
    case("sum-axis0", lambda m, a: m.sum(a, axis=0), lambda a: np.sum(a, axis=0), randn(3, 4), hint=REDUCE),
    case("sum-axis-1-keepdims", lambda m, a: m.sum(a, axis=-1, keepdims=True),
         lambda a: np.sum(a, axis=-1, keepdims=True), randn(2, 3, 4), hint=REDUCE),
    case("sum-axis1-square", lambda m, a: m.sum(a, axis=1), lambda a: np.sum(a, axis=1), randn(4, 4),
         hint="the gradient of sum over axis 1 must be re-inserted at axis 1 (np.expand_dims(g, 1)) before it is "
              "broadcast: plain broadcasting aligns it with the LAST axis, which a square input does not reject"),
    case("sum-tuple-axes", lambda m, a: m.sum(a, axis=(0, 2)), lambda a: np.sum(a, axis=(0, 2)),
         randn(2, 3, 4), hint=REDUCE),
    case("sum-neg-tuple-keepdims", lambda m, a: m.sum(a, axis=(-1, -3), keepdims=True),
         lambda a: np.sum(a, axis=(-1, -3), keepdims=True), randn(2, 3, 4), hint=REDUCE),
    case("sum-all-keepdims", lambda m, a: m.sum(a, keepdims=True), lambda a: np.sum(a, keepdims=True),
         randn(2, 3), hint=REDUCE),
    case("sum-size1-axis", lambda m, a: m.sum(a, axis=1), lambda a: np.sum(a, axis=1), randn(3, 1, 2), hint=REDUCE),
    case("mean-all", lambda m, a: m.mean(a), lambda a: np.mean(a), randn(3, 4),
         hint="d mean / dx = 1/N for each of the N averaged elements"),
    case("mean-axis1", lambda m, a: m.mean(a, axis=1), lambda a: np.mean(a, axis=1), randn(2, 3, 4),
         hint="d mean / dx = 1/N, N = the size of the reduced axes"),
    case("mean-axis-1-keepdims", lambda m, a: m.mean(a, axis=-1, keepdims=True),
         lambda a: np.mean(a, axis=-1, keepdims=True), randn(2, 5), hint=REDUCE),
    case("mean-axis1-square", lambda m, a: m.mean(a, axis=1), lambda a: np.mean(a, axis=1), randn(4, 4),
         hint="the gradient must be re-inserted at the reduced axis before broadcasting (np.expand_dims(g, 1))"),
    case("mean-tuple-axes", lambda m, a: m.mean(a, axis=(0, -1)), lambda a: np.mean(a, axis=(0, -1)),
         randn(2, 3, 4), hint="N is the product of the sizes of all reduced axes"),
    case("max-all", lambda m, a: m.max(a), lambda a: np.max(a), distinct(3, 4),
         hint="only the maximal element receives the gradient"),
    case("max-axis0", lambda m, a: m.max(a, axis=0), lambda a: np.max(a, axis=0), distinct(3, 4),
         hint="only the maximal element of each slice receives the gradient"),
    case("max-axis-1-keepdims", lambda m, a: m.max(a, axis=-1, keepdims=True),
         lambda a: np.max(a, axis=-1, keepdims=True), distinct(2, 3, 4), hint=REDUCE),
    case("max-tuple-axes", lambda m, a: m.max(a, axis=(0, 2)), lambda a: np.max(a, axis=(0, 2)),
         distinct(2, 3, 4), hint=REDUCE),
    # shape ops
    case("reshape-flat", lambda m, a: m.reshape(a, (-1,)), lambda a: a.reshape(-1), randn(2, 3, 4)),
    case("reshape-2d", lambda m, a: m.reshape(a, (4, -1)), lambda a: a.reshape(4, -1), randn(2, 3, 4)),
    case("reshape-add-dims", lambda m, a: m.reshape(a, (1, 3, 1, 4)), lambda a: a.reshape(1, 3, 1, 4), randn(3, 4)),
    case("transpose-reverse", lambda m, a: m.transpose(a), np.transpose, randn(3, 4)),
    case("transpose-axes", lambda m, a: m.transpose(a, (1, 0, 2)), lambda a: a.transpose(1, 0, 2), randn(2, 3, 4),
         hint="the gradient is transposed back by the inverse permutation"),
    case("transpose-negative-axes", lambda m, a: m.transpose(a, (-1, 0, -2)), lambda a: a.transpose(-1, 0, -2),
         randn(2, 3, 4), hint="normalise negative axes (axis % ndim) before inverting the permutation: "
                              "argsort((-1, 0, -2)) is not the inverse of (2, 0, 1)"),
    case("transpose-cycle", lambda m, a: m.transpose(a, (2, 0, 1)), lambda a: a.transpose(2, 0, 1), randn(2, 3, 4),
         hint="the inverse of the permutation (2, 0, 1) is (1, 2, 0), not (2, 0, 1)"),
    # indexing
    case("getitem-int", lambda m, a: m.getitem(a, 1), lambda a: a[1], randn(3, 4)),
    case("getitem-slice", lambda m, a: m.getitem(a, (slice(None), slice(1, 3))), lambda a: a[:, 1:3], randn(3, 4)),
    case("getitem-step", lambda m, a: m.getitem(a, slice(None, None, 2)), lambda a: a[::2], randn(5, 3)),
    case("getitem-negative-step", lambda m, a: m.getitem(a, (slice(None), slice(None, None, -2))),
         lambda a: a[:, ::-2], randn(3, 5)),
    case("getitem-int-array-repeats", lambda m, a: m.getitem(a, np.array([0, 2, 0, 0, 3])),
         lambda a: a[np.array([0, 2, 0, 0, 3])], randn(4, 3),
         hint="a row picked several times must receive the SUM of its gradients (scatter-add, np.add.at)"),
    case("getitem-2d-int-arrays", lambda m, a: m.getitem(a, (np.array([1, 1, 0]), np.array([2, 2, 0]))),
         lambda a: a[np.array([1, 1, 0]), np.array([2, 2, 0])], randn(3, 4),
         hint="repeated (row, col) pairs must accumulate their gradients"),
    case("getitem-slice-and-array", lambda m, a: m.getitem(a, (slice(None), np.array([3, 0, 3]))),
         lambda a: a[:, np.array([3, 0, 3])], randn(2, 4), hint="repeated columns must accumulate"),
    # joining
    case("concatenate-axis0", lambda m, a, b, c: m.concatenate([a, b, c], axis=0),
         lambda a, b, c: np.concatenate([a, b, c], axis=0), randn(2, 3), randn(1, 3, seed=1), randn(3, 3, seed=2)),
    case("concatenate-axis-1", lambda m, a, b: m.concatenate([a, b], axis=-1),
         lambda a, b: np.concatenate([a, b], axis=-1), randn(2, 2, 3), randn(2, 2, 1, seed=1)),
    case("concatenate-reused", lambda m, a, b: m.concatenate([a, b, a], axis=1),
         lambda a, b: np.concatenate([a, b, a], axis=1), randn(2, 3), randn(2, 1, seed=1),
         hint="a tensor concatenated twice receives both slices' gradients"),
    case("stack-axis0", lambda m, a, b: m.stack([a, b], axis=0), lambda a, b: np.stack([a, b], axis=0),
         randn(2, 3), randn(2, 3, seed=1)),
    case("stack-axis-1", lambda m, a, b, c: m.stack([a, b, c], axis=-1), lambda a, b, c: np.stack([a, b, c], axis=-1),
         randn(2, 3), randn(2, 3, seed=1), randn(2, 3, seed=2)),
    case("stack-axis1", lambda m, a, b: m.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1),
         randn(2, 3, 2), randn(2, 3, 2, seed=1)),
]


@pytest.mark.parametrize("c", CASES)
def test_forward(impl, c: Case) -> None:
    """float64 forward == NumPy (shape exactly, values within FWD_RTOL/FWD_ATOL)."""
    out = c.build(impl, *[impl.tensor(x.copy()) for x in c.inputs])
    expected = c.numpy(*c.inputs)
    assert_close(as_array(impl, out), expected, FWD_RTOL, FWD_ATOL, f"{c.id}: float64 forward vs NumPy")


@pytest.mark.parametrize("c", CASES)
def test_backward(impl, c: Case) -> None:
    """Gradient of sum(op(x) * r) == central finite differences, for every floating input."""
    check_grads(impl, lambda *ts: c.build(impl, *ts), c.inputs, what=f"{c.id}: backward", hint=c.hint)


# ----------------------------------------------------------------------------- a realistic size
# The cases above are tiny; an implementation may take another code path for large inputs (a
# blocked matmul, a BLAS-backed reduction). Each op once more at ~1e5..3e5 elements: the forward vs
# NumPy within OP_RTOL/OP_ATOL (a blocked product sums in another order), gradients on 4 sampled
# coordinates per input with the finite-difference step LARGE_FD_EPS (spec/numerics.py).

LARGE = [
    case("matmul-2d-large", lambda m, a, b: m.matmul(a, b), np.matmul, randn(256, 384), randn(384, 512, seed=1)),
    case("matmul-batched-by-2d-large", lambda m, a, b: m.matmul(a, b), np.matmul, randn(8, 64, 384),
         randn(384, 256, seed=1)),
    case("matmul-batched-large", lambda m, a, b: m.matmul(a, b), np.matmul, randn(16, 64, 128),
         randn(16, 128, 96, seed=1)),
    case("sum-axis-1-large", lambda m, a: m.sum(a, axis=-1), lambda a: np.sum(a, axis=-1), randn(600, 500)),
    case("mean-axis0-large", lambda m, a: m.mean(a, axis=0), lambda a: np.mean(a, axis=0), randn(600, 500)),
    case("max-axis-1-large", lambda m, a: m.max(a, axis=-1), lambda a: np.max(a, axis=-1), distinct(600, 500)),
]


@pytest.mark.parametrize("c", LARGE)
def test_ops_at_a_realistic_size(impl, c: Case) -> None:
    """The op on large inputs: forward vs NumPy, gradients on sampled coordinates."""
    out = c.build(impl, *[impl.tensor(x.copy()) for x in c.inputs])
    assert_close(as_array(impl, out), c.numpy(*c.inputs), OP_RTOL, OP_ATOL, f"{c.id}: float64 forward vs NumPy",
                 "the small-size cases pass, so look for a code path taken only for large inputs")
    check_grads(impl, lambda *ts: c.build(impl, *ts), c.inputs, what=f"{c.id}: backward", max_coords=4,
                eps=LARGE_FD_EPS)


# ----------------------------------------------------------------------------- max with ties

# The rule for ties (stated in spec/adapter_template.py): max's gradient is split EVENLY among the
# elements that attain the maximum of their slice, as torch.amax (and np-style autograd engines) do:
# each of n tied maxima receives g / n. (torch.max(x, dim) instead sends it to one index: a PyTorch
# adapter uses torch.amax.) Finite differences cannot check this (max is not differentiable at a tie).
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, 2.0, 2.0], [2.0, -1.0, 4.0, 2.0]])
TIE_CASES = [
    pytest.param(1, False, np.array([[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25], [0, 0, 1, 0]]), id="axis1"),
    pytest.param(0, True, np.array([[0, 1, 0, 0], [0.5, 0, 0, 0.5], [0.5, 0, 1, 0.5]]), id="axis0-keepdims"),
    pytest.param(None, False, np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]]), id="all"),
    pytest.param(None, False, None, id="all-tied-twice"),
]


@pytest.mark.parametrize("axis, keepdims, share", TIE_CASES)
def test_max_ties_share_the_gradient_evenly(impl, axis, keepdims, share) -> None:
    """d max / dx with tied maxima: each of the n elements equal to their slice's max gets 1/n of
    the upstream gradient (the rule above); the others get 0."""
    x = TIES.copy()
    if share is None:  # the overall max attained twice
        x[0, 0] = 4.0
        share = np.zeros(x.shape)
        share[0, 0] = share[2, 2] = 0.5
    t = impl.tensor(x, requires_grad=True)
    out = impl.max(t, axis=axis, keepdims=keepdims)
    value = as_array(impl, out)
    assert_close(value, np.max(x, axis=axis, keepdims=keepdims), 0, 0, f"max(axis={axis}) of an input with ties")
    g = np.random.default_rng(2).uniform(1.0, 2.0, value.shape)
    impl.backward(out, g)
    expand = g if keepdims or axis is None else np.expand_dims(g, axis)
    want = share * expand
    assert_close(np.asarray(impl.grad(t)), want, 0, FWD_ATOL,
                 f"d max(axis={axis}, keepdims={keepdims}) / dx with tied maxima",
                 "split the gradient evenly among the tied maxima of each slice (g * mask / count), as "
                 "torch.amax does: not all of it to every tied element, nor all of it to the first one")


# ----------------------------------------------------------------------------- non-contiguous inputs

NON_CONTIGUOUS = [
    pytest.param(lambda m, a: m.tanh(a), lambda x: x.T, id="tanh-of-transposed"),
    pytest.param(lambda m, a: m.sum(a, axis=0), lambda x: x[::2, ::-1], id="sum-of-strided"),
    pytest.param(lambda m, a: m.matmul(a, a), lambda x: x.T[:3, :3], id="matmul-of-transposed-view"),
    pytest.param(lambda m, a: m.mul(a, a), lambda x: np.broadcast_to(x[:1], (4, 5)), id="mul-of-broadcast-view"),
    pytest.param(lambda m, a: m.getitem(a, np.array([0, 0, 2])), lambda x: x[::-1, 1::2], id="getitem-of-reversed"),
    pytest.param(lambda m, a: m.reshape(a, (-1,)), lambda x: x[:, ::2].T, id="reshape-of-strided"),
]


@pytest.mark.parametrize("build, view", NON_CONTIGUOUS)
def test_non_contiguous_inputs(impl, build, view) -> None:
    """A transposed / strided / broadcast view as input gives the same value and gradient as a
    contiguous copy of it (the gradient has the view's shape)."""
    base = randn(4, 5, seed=3)
    x_view = view(base)
    assert not x_view.flags["C_CONTIGUOUS"]
    results = []
    for x in (np.ascontiguousarray(x_view), x_view):
        t = impl.tensor(x, requires_grad=True)
        out = build(impl, t)
        value = as_array(impl, out).copy()
        impl.backward(out, np.ones(value.shape))
        results.append((value, np.array(impl.grad(t), copy=True)))
    (v_ref, g_ref), (v, g) = results
    hint = "an op must not assume C-contiguous input (e.g. do not reinterpret .data's buffer)"
    assert_close(v, v_ref, FWD_RTOL, FWD_ATOL, "forward on a non-contiguous view vs on a contiguous copy", hint)
    assert_close(g, g_ref, FWD_RTOL, FWD_ATOL, "gradient for a non-contiguous view vs for a contiguous copy", hint)
    np.testing.assert_array_equal(x_view, view(randn(4, 5, seed=3)), err_msg="the input array was modified")
