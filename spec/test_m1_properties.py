"""M1 property-based contracts (hypothesis): random shapes, values, axes and expression graphs.

Each property compares the implementation with NumPy (forward, within ``FWD_RTOL``/``FWD_ATOL``)
and with central finite differences (backward, within ``GRAD_RTOL``/``GRAD_ATOL``); see
spec/numerics.py. Runs are derandomized (the same examples every time) and small, so the whole
file takes about a second against the reference.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spec.numerics import FWD_ATOL, FWD_RTOL, as_array, assert_close, check_grads

pytestmark = pytest.mark.milestone("M1")

# The `adapter` fixture is function-scoped only to read the test's name; it holds no per-example state.
# A failure is shrunk to a minimal example (which teaches), but hypothesis's slow "explain" phase is off.
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max}


# Hypothesis would spend seconds shrinking an example that fails only because the adapter raises
# NotImplementedError. So before hypothesis starts, each test calls the adapter functions it uses
# once on a tiny input: a missing one makes the test "not implemented" at once.
PROBES = {
    "tensor": lambda m, t: t, "to_numpy": lambda m, t: m.to_numpy(t),
    "add": lambda m, t: m.add(t, t), "sub": lambda m, t: m.sub(t, t), "mul": lambda m, t: m.mul(t, t),
    "div": lambda m, t: m.div(t, t), "neg": lambda m, t: m.neg(t), "tanh": lambda m, t: m.tanh(t),
    "exp": lambda m, t: m.exp(t), "pow": lambda m, t: m.pow(t, 2.0), "sum": lambda m, t: m.sum(t),
    "mean": lambda m, t: m.mean(t), "max": lambda m, t: m.max(t), "reshape": lambda m, t: m.reshape(t, (-1,)),
    "transpose": lambda m, t: m.transpose(t), "backward": lambda m, t: m.backward(m.mul(t, t), np.ones((2, 2))),
    "grad": lambda m, t: m.grad(t),
}
USES = {
    "test_binary_ops_broadcast": ("add", "sub", "mul", "div"),
    "test_reductions": ("sum", "mean", "max"),
    "test_transpose_then_reshape": ("transpose", "reshape"),
    "test_random_expression_graphs": ("add", "sub", "mul", "neg", "tanh", "exp", "pow", "mean"),
}


class Adapter:
    """The adapter as the property tests see it. Hypothesis pretty-prints a failing example's
    arguments and looks up ``_repr_pretty_`` on them; the plugin's proxy answers every missing
    name with a "not implemented" function, which would turn a real failure into "not
    implemented". So private names are refused here."""

    def __init__(self, impl):
        self.impl = impl

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.impl, name)

    def __repr__(self) -> str:
        return repr(self.impl)


@pytest.fixture
def adapter(impl, request) -> Adapter:
    """``impl``, after calling the functions the test uses once (see PROBES)."""
    for name in ("tensor", "to_numpy", "mul", "backward", "grad", *USES.get(request.function.__name__, ())):
        PROBES[name](impl, impl.tensor(np.full((2, 2), 0.5), requires_grad=True))
    return Adapter(impl)


def values(shape: tuple[int, ...], seed: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape)


def check_forward_and_backward(impl, build, numpy_fn, inputs, what: str, hint: str = "") -> None:
    out = build(*[impl.tensor(x.copy()) for x in inputs])
    assert_close(as_array(impl, out), numpy_fn(*inputs), FWD_RTOL, FWD_ATOL, f"{what}: forward vs NumPy", hint)
    check_grads(impl, build, inputs, what=f"{what}: backward", hint=hint)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast(adapter, shapes, op, seed) -> None:
    """add/sub/mul/div on any pair of broadcastable shapes (including 0-d and size-1 dims)."""
    a_shape, b_shape = shapes.input_shapes
    a = values(a_shape, seed)
    b = values(b_shape, seed + 1, 0.5, 2.0) if op == "div" else values(b_shape, seed + 1)
    check_forward_and_backward(
        adapter, lambda x, y: getattr(adapter, op)(x, y), BINARY[op], [a, b], f"{op} of shapes {a_shape} and {b_shape}",
        "the gradient of a broadcast operand is summed over its broadcast dims, back to its own shape")


@st.composite
def shape_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        picked = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in picked)  # mix negative axes in
    return shape, axis


@SETTINGS
@given(shape_axis=shape_and_axis(), op=st.sampled_from(sorted(REDUCTIONS)), keepdims=st.booleans(),
       seed=st.integers(0, 2**16))
def test_reductions(adapter, shape_axis, op, keepdims, seed) -> None:
    """sum/mean/max over None, an int or a tuple of (possibly negative) axes, with or without keepdims."""
    shape, axis = shape_axis
    n = int(np.prod(shape))
    # distinct values 0.1 apart: max has a unique argmax, far from ties at the FD step
    x = np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 if op == "max" else values(shape, seed)
    check_forward_and_backward(
        adapter, lambda t: getattr(adapter, op)(t, axis=axis, keepdims=keepdims),
        lambda a: REDUCTIONS[op](a, axis=axis, keepdims=keepdims), [x],
        f"{op}(shape {shape}, axis={axis}, keepdims={keepdims})",
        "reduced axes must be re-inserted (when keepdims=False) and the gradient broadcast over them")


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=3), data=st.data())
def test_transpose_then_reshape(adapter, shape, data) -> None:
    """transpose by a random permutation, then flatten: a pure rearrangement of the gradient."""
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    x = values(shape, 0)
    check_forward_and_backward(
        adapter, lambda t: adapter.reshape(adapter.transpose(t, perm), (-1,)), lambda a: a.transpose(perm).reshape(-1), [x],
        f"reshape(transpose(x of shape {shape}, {perm}), (-1,))",
        "transpose's backward must apply the INVERSE permutation")


# ----------------------------------------------------------------------------- random expression graphs

UNARY = {
    "neg": (lambda m, a: m.neg(a), np.negative),
    "tanh": (lambda m, a: m.tanh(a), np.tanh),
    "scale": (lambda m, a: m.mul(a, 0.7), lambda a: a * 0.7),
    "square": (lambda m, a: m.pow(a, 2.0), np.square),
    "mean": (lambda m, a: m.mean(a), np.mean),
    "exp-tanh": (lambda m, a: m.exp(m.tanh(a)), lambda a: np.exp(np.tanh(a))),
}
BINARY_GRAPH = {
    "add": (lambda m, a, b: m.add(a, b), np.add),
    "sub": (lambda m, a, b: m.sub(a, b), np.subtract),
    "mul": (lambda m, a, b: m.mul(a, b), np.multiply),
}


@st.composite
def programs(draw):
    """Leaves of mutually broadcastable shapes and 1..6 steps; each step applies an op to earlier
    nodes chosen at random, so nodes are reused (a*a, diamonds) and broadcast against each other."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=draw(st.integers(1, 3)), max_dims=3, max_side=3))
    n_leaves = len(shapes.input_shapes)
    steps = []
    for k in range(draw(st.integers(1, 6))):
        n_nodes = n_leaves + k
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(sorted(BINARY_GRAPH))),
                          draw(st.integers(0, n_nodes - 1)), draw(st.integers(0, n_nodes - 1))))
        else:
            steps.append((draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, n_nodes - 1))))
    return shapes.input_shapes, steps


def run_program(steps, leaves, apply):
    nodes = list(leaves)
    for op, *args in steps:
        nodes.append(apply(op, *[nodes[i] for i in args]))
    return nodes[-1]


@SETTINGS
@given(program=programs(), seed=st.integers(0, 2**16))
def test_random_expression_graphs(adapter, program, seed) -> None:
    """Random graphs with node reuse and broadcasting: forward vs NumPy, backward vs finite differences."""
    shapes, steps = program
    inputs = [values(s, seed + i, -1.0, 1.0) for i, s in enumerate(shapes)]

    def on_adapter(op, *args):
        return (BINARY_GRAPH.get(op) or UNARY[op])[0](adapter, *args)

    def on_numpy(op, *args):
        return (BINARY_GRAPH.get(op) or UNARY[op])[1](*args)

    check_forward_and_backward(
        adapter, lambda *ts: run_program(steps, ts, on_adapter), lambda *xs: run_program(steps, xs, on_numpy), inputs,
        f"graph {steps} on leaves of shapes {list(shapes)}",
        "a node used several times must receive the sum of all its contributions before its own backward runs")
