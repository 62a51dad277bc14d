"""Reference only: every numgpt.tensor op passes numgpt's own gradcheck, and gradcheck itself
catches a wrong backward."""
from __future__ import annotations

import numpy as np
import pytest

from numgpt.tensor import GradcheckError, Tensor, concatenate, gradcheck, matmul, stack

rng = np.random.default_rng(123)


def randn(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(*shape):
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(*shape):
    return (rng.permutation(int(np.prod(shape))) * 0.1).reshape(shape)


OPS = [
    ("add-bcast", lambda a, b: a + b, [randn(3, 4), randn(4)]),
    ("radd-scalar", lambda a: 2.0 + a, [randn(3)]),
    ("sub-bcast", lambda a, b: a - b, [randn(3, 1), randn(1, 4)]),
    ("rsub-scalar", lambda a: 1.0 - a, [randn(3)]),
    ("mul-bcast", lambda a, b: a * b, [randn(2, 3, 4), randn(3, 1)]),
    ("div-bcast", lambda a, b: a / b, [randn(3, 4), positive(4)]),
    ("rdiv-scalar", lambda a: 2.0 / a, [positive(3)]),
    ("neg", lambda a: -a, [randn(3, 4)]),
    ("pow-2", lambda a: a ** 2, [randn(3, 4)]),
    ("pow-0.5", lambda a: a ** 0.5, [positive(3, 4)]),
    ("pow-0", lambda a: a ** 0 + a, [np.array([0.0, 1.0, -2.0])]),
    ("matmul-2d", lambda a, b: a @ b, [randn(3, 4), randn(4, 2)]),
    ("matmul-batched-2d", lambda a, b: a @ b, [randn(2, 3, 4), randn(4, 2)]),
    ("matmul-bcast-batch", lambda a, b: matmul(a, b), [randn(2, 1, 3, 4), randn(3, 4, 2)]),
    ("matmul-1d-left", lambda a, b: a @ b, [randn(4), randn(2, 4, 3)]),
    ("matmul-1d-right", lambda a, b: a @ b, [randn(2, 3, 4), randn(4)]),
    ("sum-tuple-keepdims", lambda a: a.sum(axis=(0, -1), keepdims=True), [randn(2, 3, 4)]),
    ("mean-axis", lambda a: a.mean(axis=1), [randn(2, 3, 4)]),
    ("max-axis", lambda a: a.max(axis=-1), [distinct(3, 4)]),
    ("max-all-keepdims", lambda a: a.max(keepdims=True), [distinct(3, 4)]),
    ("relu", lambda a: a.relu(), [away_from_zero(3, 4)]),
    ("exp", lambda a: a.exp(), [randn(3, 4)]),
    ("log", lambda a: a.log(), [positive(3, 4)]),
    ("tanh", lambda a: a.tanh(), [randn(3, 4)]),
    ("astype", lambda a: a.astype(np.float64) * a, [randn(3)]),
    ("reshape", lambda a: a.reshape(4, -1), [randn(2, 3, 4)]),
    ("transpose", lambda a: a.transpose(2, 0, 1), [randn(2, 3, 4)]),
    ("T", lambda a: a.T, [randn(2, 3)]),
    ("getitem-slices", lambda a: a[::2, 1:], [randn(5, 3)]),
    ("getitem-repeats", lambda a: a[np.array([0, 0, 2, 0])], [randn(3, 2)]),
    ("getitem-tensor-index", lambda a: a[Tensor(np.array([1, 1]))], [randn(3, 2)]),
    ("concatenate", lambda a, b: concatenate([a, b, a], axis=-1), [randn(2, 3), randn(2, 1)]),
    ("stack", lambda a, b: stack([a, b], axis=1), [randn(2, 3), randn(2, 3)]),
    ("reuse", lambda a: a * a + a, [randn(3)]),
]


@pytest.mark.parametrize("fn, inputs", [pytest.param(f, x, id=name) for name, f, x in OPS])
def test_op_passes_gradcheck(fn, inputs) -> None:
    worst = gradcheck(fn, inputs)
    assert worst < 1e-5


def _double_backward_op(x: Tensor) -> Tensor:
    """x * 3 whose backward is wrong (returns 2 * g instead of 3 * g)."""
    return Tensor.from_op(x.data * 3, (x,), lambda g: (2 * g,), "wrong")


def test_gradcheck_catches_a_wrong_backward() -> None:
    with pytest.raises(GradcheckError, match=r"gradient of input 0 .* is wrong at index"):
        gradcheck(_double_backward_op, [randn(3)])


def test_gradcheck_catches_a_missing_gradient() -> None:
    """A backward that returns None for an input that matters is caught (analytic 0 != numeric)."""
    def broken(a, b):
        return Tensor.from_op(a.data * b.data, (a, b), lambda g: (g * b.data, None), "mul-no-b")

    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(broken, [randn(3), randn(3)])
