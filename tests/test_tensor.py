"""Unit tests of numgpt.tensor.Tensor: errors, repr, operators, dtypes, graph freeing, unbroadcast."""
from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

import numgpt.tensor.tensor as tensor_module
from numgpt.tensor import Tensor, concatenate, is_grad_enabled, matmul, no_grad, stack, unbroadcast


def leaf(x, dtype=np.float64) -> Tensor:
    return Tensor(np.array(x, dtype=dtype), requires_grad=True)


# ----------------------------------------------------------------------------- construction, repr


def test_doctests() -> None:
    result = doctest.testmod(tensor_module)
    assert result.failed == 0 and result.attempted >= 2


def test_docs_autograd_examples() -> None:
    """The worked examples in docs/autograd.md run and print the numbers the page shows."""
    path = Path(__file__).resolve().parents[1] / "docs" / "autograd.md"
    result = doctest.testfile(str(path), module_relative=False,
                              globs={"np": np, "Tensor": Tensor, "unbroadcast": unbroadcast})
    assert result.failed == 0 and result.attempted >= 8


def test_repr() -> None:
    assert repr(Tensor(np.array([1.0, 2.0]))) == "Tensor([1. 2.], dtype=float64)"
    assert repr(leaf([0.5], np.float32)) == "Tensor([0.5], dtype=float32, requires_grad=True)"
    big = repr(Tensor(np.zeros(1000)))
    assert "..." in big and len(big) < 200


def test_properties() -> None:
    t = leaf(np.arange(6.0).reshape(2, 3))
    assert (t.shape, t.ndim, t.size, len(t), t.dtype) == ((2, 3), 2, 6, 2, np.float64)
    assert t.is_leaf and t.requires_grad and t.grad is None
    assert t.numpy() is t.data
    assert Tensor(np.array([[4.0]])).item() == 4.0
    assert Tensor(t).data is t.data


def test_dtype_argument_casts() -> None:
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32


# ----------------------------------------------------------------------------- operators


def test_operators_with_scalars_and_arrays_on_either_side() -> None:
    x = np.array([1.0, 2.0, 4.0])
    arr = np.array([2.0, 2.0, 2.0])
    cases = [
        (lambda t: t + 2, x + 2), (lambda t: 2 + t, 2 + x), (lambda t: t + arr, x + arr), (lambda t: arr + t, arr + x),
        (lambda t: t - 1, x - 1), (lambda t: 1 - t, 1 - x), (lambda t: arr - t, arr - x),
        (lambda t: t * 3, x * 3), (lambda t: 3 * t, 3 * x), (lambda t: arr * t, arr * x),
        (lambda t: t / 2, x / 2), (lambda t: 2 / t, 2 / x), (lambda t: arr / t, arr / x),
        (lambda t: np.float64(2.0) * t, 2 * x), (lambda t: -t, -x), (lambda t: t ** 2, x ** 2),
    ]
    for fn, expected in cases:
        out = fn(Tensor(x))
        assert isinstance(out, Tensor), f"{out!r} is not a Tensor"
        np.testing.assert_allclose(out.data, expected)


def test_matmul_with_arrays_on_either_side() -> None:
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    t = leaf(b)
    out = a @ t
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, a @ b)
    out.sum().backward()
    np.testing.assert_allclose(t.grad, a.T @ np.ones((2, 4)))
    np.testing.assert_allclose((Tensor(a) @ b).data, a @ b)


def test_scalar_operand_gradients() -> None:
    x = leaf([1.0, 2.0])
    (2.0 / x + 3.0 * x - 1.0).sum().backward()
    np.testing.assert_allclose(x.grad, -2.0 / np.array([1.0, 4.0]) + 3.0)


def test_pow_requires_scalar_exponent() -> None:
    with pytest.raises(TypeError, match="scalar exponent"):
        leaf([1.0]) ** leaf([2.0])


def test_pow_zero_has_zero_gradient_at_zero() -> None:
    x = leaf([0.0, 2.0])
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_astype_is_differentiable_and_casts_gradient_back() -> None:
    x = leaf([1.0, 2.0])
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    (y * 2.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("fn", [
    lambda t: t + 1.5, lambda t: 2.0 * t, lambda t: t / np.float64(3.0), lambda t: 1.0 - t, lambda t: t ** 0.5,
    lambda t: t.mean(), lambda t: t.sum(axis=0), lambda t: t.max(), lambda t: t.relu(), lambda t: t.exp(),
    lambda t: t.log(), lambda t: t.tanh(), lambda t: t @ t.T, lambda t: t[0], lambda t: stack([t, t]),
    lambda t: concatenate([t, t]), lambda t: t.reshape(-1), lambda t: t.transpose(),
], ids=lambda f: "")
def test_float32_stays_float32(fn) -> None:
    x = leaf(np.full((2, 2), 0.5), np.float32)
    out = fn(x)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape))
    assert x.grad.dtype == np.float32


def test_backward_casts_upstream_gradient_to_tensor_dtype() -> None:
    x = leaf([1.0, 2.0], np.float32)
    (x * 2.0).backward(np.array([1.0, 1.0]))  # float64 upstream
    assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------------- backward errors, graph freeing


def test_backward_errors() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor(np.ones(2)) * 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"single-element.*\(2,\)"):
        (leaf([1.0, 2.0]) * 2).backward()
    with pytest.raises(ValueError, match=r"got shape \(3,\).*shape \(2,\)"):
        (leaf([1.0, 2.0]) * 2).backward(np.ones(3))


def test_shape_errors_name_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        leaf(np.ones((2, 3))) @ leaf(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"batch dims do not broadcast: \(2, 3, 4\) @ \(3, 4, 5\)"):
        matmul(leaf(np.ones((2, 3, 4))), leaf(np.ones((3, 4, 5))))
    with pytest.raises(ValueError, match=r"at least 1 dim"):
        matmul(leaf(1.0), leaf(np.ones(2)))
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*into shape \(4,\)"):
        leaf(np.ones((2, 3))).reshape(4)
    for bad in ((0, 0), (0, 5), (0, -3), (1, 0, 2)):
        with pytest.raises(ValueError, match="not a permutation"):
            leaf(np.ones((2, 3))).transpose(*bad)
    with pytest.raises(ValueError, match=r"same dim twice"):
        leaf(np.ones((2, 3))).sum(axis=(1, -1))
    with pytest.raises(ValueError, match=r"axis 2 is out of range .* 2 dims"):
        leaf(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(ValueError, match=r"shapes \[\(2, 3\), \(2, 4\)\]"):
        concatenate([leaf(np.ones((2, 3))), leaf(np.ones((2, 4)))])
    with pytest.raises(ValueError, match=r"one shape"):
        stack([leaf(np.ones(2)), leaf(np.ones(3))])
    with pytest.raises(ValueError, match="at least one"):
        concatenate([])


def test_second_backward_through_freed_graph_raises_clearly() -> None:
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_shared_subgraph_is_freed_by_the_first_backward() -> None:
    x = leaf([1.0, 2.0])
    h = x.tanh()
    (h * 2).sum().backward()
    with pytest.raises(RuntimeError, match="freed"):
        (h * 3).sum().backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * (2 * np.array([1.0, 2.0])))


# ----------------------------------------------------------------------------- grad mode, detach


def test_no_grad_context_and_decorator() -> None:
    x = leaf([1.0])
    with no_grad():
        assert not is_grad_enabled()
        with no_grad():
            pass
        assert not is_grad_enabled()
        y = x * 2
    assert is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and is_grad_enabled()


def test_detach_shares_data_and_cuts_graph() -> None:
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(d.data, [2.0, 4.0])
    assert x.detach().data is x.data


def test_intermediate_nodes_get_no_grad() -> None:
    x = leaf([1.0, 2.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None and x.grad is not None


def test_from_op_records_graph_only_when_needed() -> None:
    c = Tensor(np.ones(2))
    out = Tensor.from_op(c.data * 2, (c,), lambda g: (g * 2,), "double")
    assert not out.requires_grad and out.is_leaf
    x = leaf([1.0, 2.0])
    out = Tensor.from_op(x.data * 2, (x, c), lambda g: (g * 2, None), "double")
    assert out.requires_grad and not out.is_leaf and out._op == "double"


# ----------------------------------------------------------------------------- unbroadcast


@pytest.mark.parametrize("grad_shape, shape, expected", [
    ((2, 3, 4), (3, 1), np.full((3, 1), 8.0)),
    ((2, 3, 4), (4,), np.full((4,), 6.0)),
    ((2, 3, 4), (), np.array(24.0)),
    ((2, 3, 4), (1, 3, 1), np.full((1, 3, 1), 8.0)),
    ((2, 3, 4), (2, 1, 4), np.full((2, 1, 4), 3.0)),
    ((3, 1), (3, 1), np.ones((3, 1))),
])
def test_unbroadcast(grad_shape, shape, expected) -> None:
    out = unbroadcast(np.ones(grad_shape), shape)
    assert out.shape == shape
    np.testing.assert_array_equal(out, expected)


def test_unbroadcast_is_identity_for_matching_shape() -> None:
    g = np.ones((2, 3))
    assert unbroadcast(g, (2, 3)) is g


def test_non_numeric_data_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="dtype <U3"):
        Tensor("abc")


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_name_the_shapes_that_do_not_broadcast(op: str) -> None:
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    fn = {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b}[op]
    with pytest.raises(ValueError, match=rf"{op}: shapes \(2, 3\) and \(4, 5\) do not broadcast"):
        fn()
