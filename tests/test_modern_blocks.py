"""Reference tests for the Llama-family blocks in numgpt.nn: rms_norm, silu, swiglu (fused, with
hand-written backward) against their compositions from Tensor ops and against central differences
in float64; float32 in/out; stability; bad input named."""
from __future__ import annotations

import numgpt.nn.functional as F
import numpy as np
import pytest
from numgpt.nn import LinearT, RMSNorm, SwiGLU
from numgpt.tensor import Tensor, gradcheck

from .test_nn import assert_float32_preserved, assert_fused_matches_composed

RNG = np.random.default_rng(77)
X = RNG.standard_normal((2, 3, 6))
H = 8


def composed_rms_norm(x, w, eps=1e-5):
    return x / ((x * x).mean(axis=-1, keepdims=True) + eps) ** 0.5 * w


def composed_silu(x):
    return x / (1 + (-x).exp())


def composed_swiglu(x, w1, w3, w2):
    return composed_silu(x @ w1.T) * (x @ w3.T) @ w2.T


def composed_swiglu_bias(x, w1, w3, w2, b1, b3, b2):
    return (composed_silu(x @ w1.T + b1) * (x @ w3.T + b3)) @ w2.T + b2


W1, W3, W2 = RNG.standard_normal((H, 6)), RNG.standard_normal((H, 6)), RNG.standard_normal((6, H))
CASES = {
    "rms_norm": (F.rms_norm, composed_rms_norm, [X, RNG.standard_normal(6)]),
    "rms_norm_eps": (lambda x, w: F.rms_norm(x, w, 0.5), lambda x, w: composed_rms_norm(x, w, 0.5),
                     [0.1 * X, RNG.standard_normal(6)]),
    "silu": (F.silu, composed_silu, [3 * X]),
    "swiglu": (F.swiglu, composed_swiglu, [X, W1, W3, W2]),
    "swiglu_bias": (F.swiglu, composed_swiglu_bias,
                    [X, W1, W3, W2, RNG.standard_normal(H), RNG.standard_normal(H), RNG.standard_normal(6)]),
    "linear_t": (F.linear_t, lambda x, w, b: x @ w.T + b, [X, RNG.standard_normal((4, 6)), RNG.standard_normal(4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_matches_composed(name):
    fused, composed, inputs = CASES[name]
    assert_fused_matches_composed(fused, composed, inputs, atol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    fused, _, inputs = CASES[name]
    gradcheck(fused, inputs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_in_float32_out(name):
    fused, _, inputs = CASES[name]
    assert_float32_preserved(fused, inputs, name)


def test_rms_norm_eps_inside_the_root():
    x = np.full((1, 4), 0.1)
    y = F.rms_norm(Tensor(x), Tensor(np.ones(4)), eps=0.03).data
    np.testing.assert_allclose(y, 0.1 / np.sqrt(0.01 + 0.03))  # not 0.1 / (sqrt(0.01) + 0.03)


def test_silu_is_stable_for_large_inputs():
    x = np.array([-1e4, -800.0, 0.0, 800.0, 1e4], dtype=np.float32)
    with np.errstate(all="raise"):
        t = Tensor(x, requires_grad=True)
        y = F.silu(t)
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 0.0, 800.0, 1e4])
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="rms_norm weight"):
        F.rms_norm(Tensor(X), Tensor(np.ones(5)))
    with pytest.raises(ValueError, match="swiglu: shapes"):
        F.swiglu(Tensor(X), Tensor(W1), Tensor(W3), Tensor(W2.T))
    with pytest.raises(TypeError, match="silu input"):
        F.silu(Tensor(np.arange(3)))


def test_modules_hold_hf_layout_and_names():
    rng = np.random.default_rng(0)
    mlp = SwiGLU(6, H, rng=rng, dtype=np.float64)
    assert {n: p.shape for n, p in mlp.named_parameters()} == {
        "gate_proj.weight": (H, 6), "up_proj.weight": (H, 6), "down_proj.weight": (6, H)}
    x = Tensor(X)
    np.testing.assert_allclose(mlp(x).data, composed_swiglu(x, mlp.gate_proj.weight, mlp.up_proj.weight,
                                                            mlp.down_proj.weight).data, atol=1e-12)
    norm = RMSNorm(6, eps=1e-6, dtype=np.float64)
    assert [n for n, _ in norm.named_parameters()] == ["weight"]
    np.testing.assert_allclose(norm(x).data, composed_rms_norm(x, Tensor(np.ones(6)), 1e-6).data, atol=1e-12)
    lin = LinearT(6, 4, bias=False, rng=rng)
    assert lin.weight.shape == (4, 6)
