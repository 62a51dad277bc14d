"""Check analytic gradients against central finite differences, in float64.

``gradcheck(fn, inputs)`` evaluates ``fn`` on float64 copies of ``inputs``, projects the output
onto a fixed random direction ``r`` (so any output shape works: L = sum(fn(x) * r)), runs
backward, and compares each input's gradient with

    dL/dx[i] ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

element by element. Central differences have O(eps^2) truncation error, so with eps = 1e-6 in
float64 a correct gradient typically agrees to a relative error of 1e-8..1e-6.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def numerical_grad(f: Callable[[list[np.ndarray]], float], arrays: list[np.ndarray], i: int, eps: float) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` w.r.t. ``arrays[i]``."""
    x = arrays[i]
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        plus = f(arrays)
        flat[k] = orig - eps
        minus = f(arrays)
        flat[k] = orig
        gflat[k] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[np.ndarray],
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    seed: int = 0,
) -> float:
    """Compare ``fn``'s backward with finite differences for every input.

    Args:
        fn: takes one Tensor per input (each requires grad) and returns a Tensor.
        inputs: NumPy arrays; they are copied to float64.
        rtol, atol: an element passes when ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Returns the worst relative error ``max |a - n| / max(|n|, 1e-8)`` over all inputs.
    Raises ``GradcheckError`` naming the input, the worst element, and both values.
    """
    arrays = [np.array(x, dtype=np.float64, copy=True) for x in inputs]
    rng = np.random.default_rng(seed)
    out_shape = fn(*[Tensor(a) for a in arrays]).shape
    direction = rng.standard_normal(out_shape)

    def scalar(arrs: list[np.ndarray]) -> float:
        return float(np.sum(fn(*[Tensor(a) for a in arrs]).data * direction))

    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*leaves)
    out.backward(direction.astype(out.dtype))
    worst = 0.0
    for i, leaf in enumerate(leaves):
        analytic = leaf.grad if leaf.grad is not None else np.zeros_like(arrays[i])
        numeric = numerical_grad(scalar, arrays, i, eps)
        err = np.abs(analytic - numeric)
        rel = err / np.maximum(np.abs(numeric), 1e-8)
        worst = max(worst, float(rel.max(initial=0.0)))
        bad = err > atol + rtol * np.abs(numeric)
        if bad.any():
            k = np.unravel_index(np.argmax(np.where(bad, err, -1)), err.shape)
            raise GradcheckError(
                f"gradient of input {i} (shape {arrays[i].shape}) is wrong at index {tuple(map(int, k))}: "
                f"backward gives {analytic[k]:.10g}, finite differences give {numeric[k]:.10g} "
                f"(|diff| {err[k]:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|)"
            )
    return worst
