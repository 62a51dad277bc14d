"""Reference unit tests for numgpt.nn: every fused op against finite differences (float64) and
against the same function composed from M1 primitives, plus dtype, stability and error checks.

The ``composed_*`` functions below are the slow, obviously-correct versions built from Tensor ops
(``-``, ``*``, ``exp``, ``sum``, ...). They are reused by test_attention.py and test_gpt.py.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import numgpt.nn.functional as F
from numgpt.nn import GELU, Dropout, Embedding, LayerNorm, Linear, Module
from numgpt.tensor import Tensor, gradcheck

RNG = np.random.default_rng(1234)


# ----------------------------------------------------------------------------- composed references


def composed_linear(x, w, b=None):
    y = x @ w
    return y if b is None else y + b


def composed_layer_norm(x, w, b, eps=1e-5):
    xc = x - x.mean(axis=-1, keepdims=True)
    var = (xc * xc).mean(axis=-1, keepdims=True)
    y = xc / (var + eps) ** 0.5
    if w is not None:
        y = y * w
    return y if b is None else y + b


def composed_gelu(x):
    k = math.sqrt(2 / math.pi)
    return 0.5 * x * (1 + (k * (x + 0.044715 * x ** 3)).tanh())


def _shift(x, axis):
    return x - Tensor(x.data.max(axis=axis, keepdims=True))  # the max is a constant: softmax is shift-invariant


def composed_softmax(x, axis=-1):
    e = _shift(x, axis).exp()
    return e / e.sum(axis=axis, keepdims=True)


def composed_log_softmax(x, axis=-1):
    z = _shift(x, axis)
    return z - z.exp().sum(axis=axis, keepdims=True).log()


def composed_cross_entropy(logits, targets, ignore_index=-1):
    V = logits.shape[-1]
    logp = composed_log_softmax(logits.reshape(-1, V))
    t = targets.reshape(-1)
    keep = np.flatnonzero(t != ignore_index)
    return -(logp[keep, t[keep]].sum()) / len(keep)


def composed_embedding(ids, w):
    return w[ids]


def composed_dropout(x, p, rng):
    keep = rng.random(x.shape) >= p
    return x * Tensor(keep.astype(x.dtype) / (1 - p))


def assert_fused_matches_composed(fused, composed, inputs, atol=1e-12):
    """Forward values and the gradients of sum(out * r) w.r.t. every input agree (float64)."""
    outs, grads = [], []
    for fn in (fused, composed):
        leaves = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in inputs]
        out = fn(*leaves)
        r = np.random.default_rng(0).standard_normal(out.shape)
        (out * Tensor(r)).sum().backward()
        outs.append(out.data)
        grads.append([leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data) for leaf in leaves])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10, atol=atol, err_msg="fused vs composed forward")
    for i, (a, b) in enumerate(zip(*grads)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=atol, err_msg=f"fused vs composed gradient of input {i}")


# ----------------------------------------------------------------------------- fused vs composed + gradcheck

X = RNG.standard_normal((2, 3, 5))
IDS = np.array([[1, 1, 2], [5, 0, 1]])
TARGETS = np.array([[0, 4, -1], [3, 3, 1]])

CASES = {
    "linear": (lambda x, w, b: F.linear(x, w, b), composed_linear, [X, RNG.standard_normal((5, 4)), RNG.standard_normal(4)]),
    "linear_nobias": (lambda x, w: F.linear(x, w), composed_linear, [X, RNG.standard_normal((5, 4))]),
    "linear_tied": (lambda x, w: F.linear_tied(x, w), lambda x, w: x @ w.T, [X, RNG.standard_normal((7, 5))]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, w, b), composed_layer_norm,
                   [X, RNG.standard_normal(5), RNG.standard_normal(5)]),
    "layer_norm_nobias": (lambda x, w: F.layer_norm(x, w, None), lambda x, w: composed_layer_norm(x, w, None),
                          [X, RNG.standard_normal(5)]),
    "gelu": (F.gelu, composed_gelu, [3 * X]),
    "softmax": (F.softmax, composed_softmax, [X]),
    "softmax_axis1": (lambda x: F.softmax(x, axis=1), lambda x: composed_softmax(x, axis=1), [X]),
    "log_softmax": (F.log_softmax, composed_log_softmax, [X]),
    "cross_entropy": (lambda z: F.cross_entropy(z, TARGETS), lambda z: composed_cross_entropy(z, TARGETS), [X]),
    "embedding": (lambda w: F.embedding(IDS, w), lambda w: composed_embedding(IDS, w), [RNG.standard_normal((6, 5))]),
    "dropout": (lambda x: F.dropout(x, 0.3, True, np.random.default_rng(7)),
                lambda x: composed_dropout(x, 0.3, np.random.default_rng(7)), [X]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_matches_composed(name):
    fused, composed, inputs = CASES[name]
    assert_fused_matches_composed(fused, composed, inputs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    fused, _, inputs = CASES[name]
    gradcheck(fused, inputs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_preserved(name):
    fused, _, inputs = CASES[name]
    assert_float32_preserved(fused, inputs, name)


def assert_float32_preserved(fused, inputs, name: str) -> None:
    """float32 in -> float32 out and float32 gradients: no silent float64 upcast anywhere."""
    leaves = [Tensor(a.astype(np.float32), requires_grad=True) for a in inputs]
    out = fused(*leaves)
    assert out.dtype == np.float32, f"{name} returned {out.dtype}"
    out.backward(np.ones(out.shape, dtype=np.float32))
    for leaf in leaves:
        assert leaf.grad is not None and leaf.grad.dtype == np.float32, f"{name}: a gradient is not float32"


# ----------------------------------------------------------------------------- stability


def test_softmax_fully_masked_row_is_zero_not_nan():
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    out = F.softmax(Tensor(x)).data
    np.testing.assert_array_equal(out, [[0, 0], [1, 0]])


# ----------------------------------------------------------------------------- semantics and errors


def test_cross_entropy_matches_plain_numpy_and_ignores():
    z = RNG.standard_normal((2, 3, 5))
    t = np.array([[0, -1, 4], [2, 2, -1]])
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    keep = t != -1
    expected = -logp[keep, t[keep]].mean()
    assert F.cross_entropy(Tensor(z), t).item() == pytest.approx(expected, rel=1e-12)
    zt = Tensor(z, requires_grad=True)
    F.cross_entropy(zt, t).backward()
    np.testing.assert_array_equal(zt.grad[~keep], 0)


def test_cross_entropy_errors():
    z = Tensor(np.zeros((2, 5)))
    with pytest.raises(IndexError, match="target 5 is out of range for 5 classes"):
        F.cross_entropy(z, np.array([0, 5]))
    with pytest.raises(ValueError, match="ignore_index"):
        F.cross_entropy(z, np.array([-1, -1]))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(z, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="must match"):
        F.cross_entropy(z, np.array([0, 1, 2]))


def test_embedding_errors_name_the_problem():  # (the scatter-add itself is the spec's)
    w = Tensor(np.zeros((4, 2)), requires_grad=True)
    with pytest.raises(IndexError, match="id 4 is out of range for a table of 4 rows"):
        F.embedding(np.array([4]), w)
    with pytest.raises(TypeError, match="integer"):
        F.embedding(np.array([0.5]), w)


def test_linear_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"last dim 3.*\(4, 2\).*4 input features"):
        F.linear(Tensor(np.zeros((2, 3))), Tensor(np.zeros((4, 2))))


def test_dropout_returns_its_input_when_off_and_the_layer_has_its_own_seeded_generator():
    # (statistics, scaling, p = 0 and 1, bad p: the spec's)
    x = Tensor(np.ones((200, 200), dtype=np.float32))
    assert F.dropout(x, 0.25, training=False) is x
    assert F.dropout(x, 0.0) is x
    with pytest.raises(ValueError, match="Dropout probability must be in"):
        Dropout(1.5)
    d1, d2 = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    np.testing.assert_array_equal(d1(x).data, d2(x).data)
    d1.eval()
    assert d1(x) is x


# ----------------------------------------------------------------------------- layers


def test_layers_parameters_layout_and_init():
    rng = np.random.default_rng(0)
    lin = Linear(64, 256, rng=rng)
    assert lin.weight.shape == (64, 256) and lin.bias.shape == (256,) and lin.weight.dtype == np.float32
    assert abs(lin.weight.data.std() - 0.02) < 0.001 and not lin.bias.data.any()
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert Linear(3, 2, bias=False).bias is None and Linear(3, 2, bias=False).num_parameters() == 6
    ln = LayerNorm(8)
    assert (ln.weight.data == 1).all() and not ln.bias.data.any() and ln.eps == 1e-5
    emb = Embedding(10, 4, rng=rng)
    assert emb.weight.shape == (10, 4)
    x = Tensor(RNG.standard_normal((2, 3, 64)).astype(np.float32))
    assert lin(x).shape == (2, 3, 256)
    assert GELU()(x).shape == x.shape
    assert emb(np.array([[1, 2]])).shape == (1, 2, 4)


def test_linear_seeded_init_is_deterministic_across_dtypes():
    a = Linear(5, 3, rng=np.random.default_rng(9))
    b = Linear(5, 3, dtype=np.float64, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a.weight.data, b.weight.data.astype(np.float32))


def test_module_state_dict_roundtrip():
    class Two(Module):
        def __init__(self):
            self.a = Linear(3, 4, rng=np.random.default_rng(0))
            self.n = LayerNorm(4)

    m1, m2 = Two(), Two()
    m2.a.weight.data[:] = 0
    m2.load_state_dict(m1.state_dict())
    np.testing.assert_array_equal(m2.a.weight.data, m1.a.weight.data)
    assert list(m1.state_dict()) == ["a.weight", "a.bias", "n.weight", "n.bias"]


def test_uninitialised_builds_the_shapes_without_drawing_and_then_draws_again():
    from numgpt.nn.layers import uninitialised

    rng = np.random.default_rng(0)
    with uninitialised():
        lin = Linear(3, 5, dtype=np.float32, rng=rng)
    assert lin.weight.shape == (3, 5) and lin.weight.dtype == np.float32
    assert rng.standard_normal() == np.random.default_rng(0).standard_normal()  # nothing was drawn from rng
    drawn = Linear(3, 5, dtype=np.float64, rng=np.random.default_rng(1)).weight.data  # drawing is back on
    np.testing.assert_array_equal(drawn, np.random.default_rng(1).standard_normal((3, 5)) * 0.02)
