"""M1 contracts for the autograd engine as a whole: graphs with reuse, accumulation, deep chains,
grad mode, detach, errors, float32, and determinism.

The op-by-op contracts are in spec/test_m1_ops.py; random graphs in spec/test_m1_properties.py.
Closed-form gradients here are compared within ``GRAD_RTOL``/``GRAD_ATOL`` (they are exact up to
rounding); float32 vs float64 within ``F32_RTOL``/``F32_ATOL`` (spec/numerics.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from spec.numerics import (
    F32_ATOL, F32_RTOL, GRAD_ATOL, GRAD_RTOL, as_array, assert_clear_error, assert_close, check_grads, diagnose,
    shape_regex,
)
from spec.test_m1_ops import CASES

pytestmark = pytest.mark.milestone("M1")

ORDER_HINT = ("a node's backward ran before every contribution to its gradient arrived: walk the nodes in "
              "reverse topological order, and SUM the gradients of a node used several times")


def leaf(impl, x: np.ndarray):
    return impl.tensor(np.array(x, dtype=np.float64), requires_grad=True)


def grad_or_zeros(impl, t, shape) -> np.ndarray:
    g = impl.grad(t)
    return np.zeros(shape) if g is None else np.asarray(g, dtype=np.float64)


X = np.array([[0.5, -1.25, 2.0], [-0.3, 0.8, 1.5]])


# ----------------------------------------------------------------------------- graphs with reuse


def test_reused_node(impl) -> None:
    """y = a*a + a uses the node a three times: dy/da = 2a + 1."""
    a = leaf(impl, X)
    y = impl.add(impl.mul(a, a), a)
    impl.backward(y, np.ones(X.shape))
    got = grad_or_zeros(impl, a, X.shape)
    partial = [(ORDER_HINT, v) for v in (np.ones(X.shape), X, X + 1, 2 * X)]  # some contributions lost
    assert_close(got, 2 * X + 1, GRAD_RTOL, GRAD_ATOL, "d(a*a + a)/da vs the closed form 2a + 1",
                 diagnose(got, partial, GRAD_RTOL, GRAD_ATOL))
    check_grads(impl, lambda t: impl.add(impl.mul(t, t), t), [X], what="a*a + a", hint=ORDER_HINT)


def test_diamond_graph(impl) -> None:
    """x -> b = tanh(x) -> (c = 3b, d = b*b) -> c + d: b's gradient is the sum over both paths,
    dy/dx = (1 - tanh^2 x)(3 + 2 tanh x)."""
    x = leaf(impl, X)
    b = impl.tanh(x)
    y = impl.add(impl.mul(b, 3.0), impl.mul(b, b))
    impl.backward(y, np.ones(X.shape))
    t = np.tanh(X)
    got = grad_or_zeros(impl, x, X.shape)
    one_path = [(ORDER_HINT, (1 - t * t) * v) for v in (3.0, 2 * t, t, 3 + t)]  # a path (or a side) lost
    assert_close(got, (1 - t * t) * (3 + 2 * t), GRAD_RTOL, GRAD_ATOL,
                 "diamond graph: dy/dx vs the closed form (1 - tanh^2)(3 + 2 tanh)",
                 diagnose(got, one_path, GRAD_RTOL, GRAD_ATOL))


def test_two_level_diamond(impl) -> None:
    """Reuse at several depths (b feeds c and d, c feeds d and the output) vs finite differences."""
    def f(x):
        b = impl.exp(impl.mul(x, 0.5))
        c = impl.mul(b, impl.sum(b, axis=1, keepdims=True))
        d = impl.add(impl.tanh(c), impl.div(b, impl.add(c, 3.0)))
        return impl.sub(impl.mul(d, c), b)
    check_grads(impl, f, [X], what="two-level diamond graph", hint=ORDER_HINT)


def test_accumulates_across_backward_calls(impl) -> None:
    """Two backward calls without zero_grad ADD their gradients into the leaf."""
    x = leaf(impl, X)
    impl.backward(impl.sum(impl.mul(x, x)))
    impl.backward(impl.sum(impl.mul(x, 3.0)))
    got = grad_or_zeros(impl, x, X.shape)
    assert_close(got, 2 * X + 3, GRAD_RTOL, GRAD_ATOL,
                 "gradient after backward of sum(x*x) then backward of sum(3x) (expected 2x + 3)",
                 diagnose(got, [("the second backward overwrote the leaf's gradient: leaf gradients must "
                                 "accumulate (+=) across backward calls", np.full(X.shape, 3.0))], GRAD_RTOL, GRAD_ATOL))


def assert_reset(impl, t, shape, what: str) -> None:
    """grad(t) is None, or zeros of t's shape (what zero_grad leaves behind)."""
    g = impl.grad(t)
    if g is None:
        return
    a = np.asarray(g)
    assert a.shape == shape and a.dtype.kind == "f" and not np.any(a), (
        f"{what}: grad must be None or floating zeros of shape {shape}, got {type(g).__name__} "
        f"{a.dtype} of shape {a.shape}: {a!r}")


def test_zero_grad(impl) -> None:
    """zero_grad resets a leaf: the next backward gives the fresh gradient only."""
    x = leaf(impl, X)
    impl.backward(impl.sum(impl.mul(x, x)))
    impl.zero_grad(x)
    assert_reset(impl, x, X.shape, "after zero_grad")
    impl.backward(impl.sum(impl.mul(x, 3.0)))
    assert_close(grad_or_zeros(impl, x, X.shape), np.full(X.shape, 3.0), GRAD_RTOL, GRAD_ATOL,
                 "gradient of sum(3x) after zero_grad (expected 3 everywhere)")


def test_zero_grad_on_a_leaf_that_never_had_a_gradient(impl) -> None:
    """zero_grad on a fresh leaf (no backward has reached it yet: its grad is None) is a no-op, not
    an error (an optimizer zeroes every parameter, used or not); backward then works as usual."""
    x = leaf(impl, X)
    try:
        impl.zero_grad(x)
    except NotImplementedError:
        raise
    except Exception as e:
        raise AssertionError(
            f"zero_grad on a leaf that never had a gradient raised {type(e).__name__}: {e} (nothing to reset "
            "is not an error: a grad of None stays None)") from None
    assert_reset(impl, x, X.shape, "zero_grad on a leaf that never had a gradient")
    impl.backward(impl.sum(impl.mul(x, 3.0)))
    assert_close(grad_or_zeros(impl, x, X.shape), np.full(X.shape, 3.0), GRAD_RTOL, GRAD_ATOL,
                 "gradient of sum(3x) after zero_grad on a fresh leaf (expected 3 everywhere)")


def test_leaf_gradient_is_not_aliased(impl) -> None:
    """A leaf's gradient is an array of its own: y = a + b passes the caller's upstream array r
    straight to both leaves; if a leaf stores r itself (no copy), the second backward's in-place
    += writes into r and into the other leaf's gradient."""
    a, b = leaf(impl, X), leaf(impl, X)
    r = np.ones(X.shape)
    for _ in range(2):
        impl.backward(impl.add(a, b), r)
    hint = ("a leaf stored the upstream gradient array itself (no copy), so the next in-place += changed "
            "it for everyone who shares it: copy the first gradient a leaf receives")
    assert_close(r, np.ones(X.shape), 0, 0, "the caller's gradient array passed to backward(), after two backward "
                 "calls (backward must never write into it)", hint)
    for name, t in (("a", a), ("b", b)):
        assert_close(grad_or_zeros(impl, t, X.shape), np.full(X.shape, 2.0), 0, 0,
                     f"grad({name}) after backward of a + b twice with upstream ones (expected 2)", hint)


def test_backward_none_means_one_for_single_element(impl) -> None:
    """backward() without grad on a single-element tensor (here shape (1, 1)) seeds it with 1."""
    x = leaf(impl, X)
    impl.backward(impl.sum(impl.mul(x, 2.0), keepdims=True))
    assert_close(grad_or_zeros(impl, x, X.shape), np.full(X.shape, 2.0), GRAD_RTOL, GRAD_ATOL,
                 "d sum(2x) / dx after backward() with no explicit gradient")


def test_unused_and_constant_leaves_get_no_gradient(impl) -> None:
    """A leaf the output does not depend on, and a tensor without requires_grad, get None or zeros."""
    x, unused = leaf(impl, X), leaf(impl, X)
    const = impl.tensor(X.copy())
    impl.backward(impl.sum(impl.mul(x, const)))
    for name, t in (("an unused leaf", unused), ("a tensor with requires_grad=False", const)):
        g = impl.grad(t)
        assert g is None or not np.any(np.asarray(g)), f"{name} received a gradient: {g}"


def test_deep_chain(impl) -> None:
    """A chain of 100,000 ops: backward must not recurse once per node (the recursion limit is
    ~1000); the gradient through the chain of alternating *2 and *0.5 is exactly 1."""
    n = 100_000
    x = leaf(impl, np.array([0.5, -1.5]))
    y = x
    for i in range(n):
        y = impl.mul(y, 2.0 if i % 2 == 0 else 0.5)
    try:
        impl.backward(impl.sum(y))
    except RecursionError as e:
        raise AssertionError(
            f"backward() hit Python's recursion limit on a chain of {n} ops (RecursionError: {e}): compute the "
            "reverse topological order iteratively (an explicit stack), not by recursion") from None
    assert_close(as_array(impl, y), np.array([0.5, -1.5]), 0, 0, f"value after a chain of {n} exact ops")
    assert_close(grad_or_zeros(impl, x, (2,)), np.ones(2), 0, 0, f"gradient through a chain of {n} ops")


# ----------------------------------------------------------------------------- grad mode, detach


def test_no_grad_builds_no_graph(impl) -> None:
    """Results computed under no_grad() are constants: z = sum(x) + [sum(x*x) under no_grad]
    has dz/dx = 1, not 1 + 2x. After the block, graphs are recorded again."""
    x = leaf(impl, X)
    with impl.no_grad():
        c = impl.sum(impl.mul(x, x))
    z = impl.add(impl.sum(x), c)
    impl.backward(z)
    got = grad_or_zeros(impl, x, X.shape)
    assert_close(got, np.ones(X.shape), GRAD_RTOL, GRAD_ATOL, "dz/dx where part of z was computed under no_grad()",
                 diagnose(got, [("the ops under no_grad() recorded the graph (their gradient 2x reached x)",
                                 1 + 2 * X)], GRAD_RTOL, GRAD_ATOL))


class _Boom(Exception):
    """Raised inside a no_grad() block by the test below."""


def test_no_grad_restored_after_an_exception(impl) -> None:
    """An exception inside a no_grad() block still restores grad mode on the way out (the block
    is left through its context manager's exit): graphs are recorded again afterwards."""
    x = leaf(impl, X)
    try:
        with impl.no_grad():
            impl.mul(x, x)
            raise _Boom("raised inside no_grad() by the spec")
    except _Boom:
        pass
    y = impl.sum(impl.mul(x, x))
    hint = ("grad mode was not restored when an exception left the no_grad() block: restore it in a "
            "finally: clause (or __exit__), not after the yield")
    try:
        impl.backward(y)
    except NotImplementedError:
        raise
    except Exception as e:
        raise AssertionError(f"backward() of sum(x*x) computed after an exception inside no_grad() raised "
                             f"{type(e).__name__}: {e}. Likely cause: {hint}") from None
    assert_close(grad_or_zeros(impl, x, X.shape), 2 * X, GRAD_RTOL, GRAD_ATOL,
                 "d sum(x*x)/dx computed after an exception inside no_grad()", hint)


def test_detach_cuts_the_graph(impl) -> None:
    """z = detach(x) * x: the detached factor is a constant, so dz/dx = x (not 2x)."""
    x = leaf(impl, X)
    d = impl.detach(x)
    assert_close(as_array(impl, d), X, 0, 0, "detach(x) keeps x's value")
    impl.backward(impl.mul(d, x), np.ones(X.shape))
    got = grad_or_zeros(impl, x, X.shape)
    assert_close(got, X, GRAD_RTOL, GRAD_ATOL, "d(detach(x) * x)/dx",
                 diagnose(got, [("the gradient flowed through the detached tensor too (2x): detach must cut the "
                                 "graph", 2 * X)], GRAD_RTOL, GRAD_ATOL))


# ----------------------------------------------------------------------------- errors


def test_backward_on_tensor_without_grad_raises(impl) -> None:
    """backward() from a tensor that does not require grad is a clear error, not a silent no-op."""
    t = impl.tensor(X.copy())
    y = impl.sum(impl.mul(t, t))
    with assert_clear_error("backward() on a result of tensors without requires_grad", names=[r"(?i)grad"]):
        impl.backward(y)


def test_backward_without_grad_on_non_scalar_raises(impl) -> None:
    """backward() with no upstream gradient needs a single-element tensor: a clear error that
    says so (a scalar / single element is needed, or the tensor's shape)."""
    x = leaf(impl, X)
    y = impl.mul(x, 2.0)
    with assert_clear_error("backward() with grad=None on a (2, 3) tensor",
                            names=[r"(?i)scalar|single|one element|" + shape_regex(X.shape)]):
        impl.backward(y)


def test_integer_requires_grad_raises(impl) -> None:
    """Integer data cannot require grad (its gradient would be meaningless): a clear error naming
    the dtype problem (the integer dtype, or that a floating dtype is needed)."""
    with assert_clear_error("tensor(int64 data, requires_grad=True)", names=[r"(?i)int|float|dtype"]):
        impl.tensor(np.arange(6).reshape(2, 3), requires_grad=True)


def test_matmul_shape_mismatch_names_both_shapes(impl) -> None:
    """(2, 3) @ (4, 5) is a clear error whose message shows both shapes."""
    a, b = leaf(impl, np.ones((2, 3))), leaf(impl, np.ones((4, 5)))
    with assert_clear_error("matmul of shapes (2, 3) and (4, 5)", names=[shape_regex((2, 3)), shape_regex((4, 5))],
                            hint="the message must name both shapes so the user can see which dim disagrees"):
        impl.matmul(a, b)


# ----------------------------------------------------------------------------- float32, determinism


@pytest.mark.parametrize("c", CASES)
def test_float32_matches_float64(impl, c) -> None:
    """float32 inputs give float32 outputs and gradients, within F32_RTOL/F32_ATOL of float64."""
    r = np.random.default_rng(7).standard_normal(np.shape(c.numpy(*c.inputs)))
    results = {}
    for dtype in (np.float64, np.float32):
        leaves = [impl.tensor(x.astype(dtype), requires_grad=True) for x in c.inputs]
        out = c.build(impl, *leaves)
        value = as_array(impl, out)
        impl.backward(out, r.astype(dtype))
        grads = [impl.grad(t) for t in leaves]
        results[dtype] = (value, grads)
    (v64, g64), (v32, g32) = results[np.float64], results[np.float32]
    assert v32.dtype == np.float32, f"{c.id}: float32 inputs gave a {v32.dtype} output (no silent upcast)"
    assert_close(v32, v64, F32_RTOL, F32_ATOL, f"{c.id}: float32 forward vs float64 forward")
    for i, (a, b) in enumerate(zip(g32, g64)):
        assert a is not None and np.asarray(a).dtype == np.float32, (
            f"{c.id}: the gradient of float32 input {i} is {None if a is None else np.asarray(a).dtype}, "
            f"expected float32")
        assert_close(a, b, F32_RTOL, F32_ATOL, f"{c.id}: float32 gradient of input {i} vs float64")


def test_bit_identical_determinism(impl) -> None:
    """The same inputs give bit-identical outputs and gradients on a second run."""
    rng = np.random.default_rng(11)
    xs, w, bias = rng.standard_normal((6, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    idx = np.array([0, 3, 3, 5, 0])

    def run():
        tx, tw, tb = leaf(impl, xs), leaf(impl, w), leaf(impl, bias)
        h = impl.tanh(impl.add(impl.matmul(tx, tw), tb))
        e = impl.exp(impl.sub(h, impl.max(h, axis=-1, keepdims=True)))
        p = impl.div(e, impl.sum(e, axis=-1, keepdims=True))
        picked = impl.getitem(impl.concatenate([p, impl.relu(h)], axis=0), idx)
        loss = impl.neg(impl.mean(impl.log(impl.add(picked, 1e-3))))
        impl.backward(loss)
        return [as_array(impl, loss).copy()] + [np.array(impl.grad(t), copy=True) for t in (tx, tw, tb)]

    first, second = run(), run()
    for name, a, b in zip(("loss", "grad x", "grad w", "grad b"), first, second):
        assert np.array_equal(a, b), f"{name} differs between two identical runs (max |diff| {np.max(np.abs(a - b))})"
