"""Adapter template: connect YOUR implementation to the numgpt spec.

Copy this file, fill in the functions for the milestones you have built, and run

    python -m pytest spec --impl path/to/your_adapter.py

Every function here raises ``NotImplementedError``; the spec reports a test that reaches one as
"not implemented" (never a crash), so you can fill the adapter in milestone by milestone.
``spec/reference_adapter.py`` is this file filled in for numgpt, the reference implementation.

Conventions used throughout:

* "array" means a NumPy ``ndarray``. Inputs and weights are passed in as arrays; the spec converts
  what you return with ``np.asarray`` (or ``to_numpy`` for your tensors).
* "T" is your tensor type, whatever it is. The spec never looks inside it: it makes tensors with
  ``tensor()``, reads them with ``to_numpy()``, and drives autograd with ``backward()`` and
  ``grad()``. So any autograd engine can be graded, whatever its class design.
* dtypes: the spec checks gradients in float64 and training paths in float32. An op must keep
  its input's floating dtype (float32 in, float32 out; no silent upcast to float64).
"""
from __future__ import annotations

from typing import Any, ContextManager, Sequence

import numpy as np

# =============================================================================================
# M1: Tensor + autograd
# =============================================================================================
# The tensor protocol.


def tensor(data: np.ndarray, requires_grad: bool = False) -> Any:
    """Make a tensor T holding ``data`` (keep its shape and dtype).

    With ``requires_grad=True`` the tensor is a leaf whose gradient ``backward`` will fill.
    Integer data with ``requires_grad=True`` must raise an error (TypeError or ValueError).
    """
    raise NotImplementedError


def to_numpy(t: Any) -> np.ndarray:
    """The value of tensor ``t`` as a NumPy array (same shape and dtype)."""
    raise NotImplementedError


def backward(t: Any, grad: np.ndarray | None = None) -> None:
    """Run reverse-mode autodiff from ``t``.

    ``grad`` is the upstream gradient dL/dt (same shape as ``t``); ``None`` is allowed only for a
    single-element ``t`` and means 1. Gradients ACCUMULATE into leaves (+=) across calls until
    ``zero_grad``. Calling it on a tensor that does not require grad must raise an error
    (RuntimeError or ValueError). Must work on a chain of 100,000 ops (no recursion limit).
    """
    raise NotImplementedError


def grad(t: Any) -> np.ndarray | None:
    """The accumulated gradient of leaf ``t`` as an array of ``t``'s shape, or None if no backward
    pass has reached it since it was created or zeroed."""
    raise NotImplementedError


def zero_grad(t: Any) -> None:
    """Reset the gradient of leaf ``t`` (afterwards ``grad(t)`` is None or all zeros)."""
    raise NotImplementedError


def no_grad() -> ContextManager:
    """A context manager under which ops build no graph: their results do not require grad."""
    raise NotImplementedError


def detach(t: Any) -> Any:
    """A tensor with ``t``'s value that is cut from the graph (no gradient flows through it)."""
    raise NotImplementedError


# The ops. Binary ops follow NumPy broadcasting; ``b`` is a tensor or a Python float.
# Each must be differentiable w.r.t. every tensor argument.


def add(a: Any, b: Any) -> Any:
    """a + b (broadcasting)."""
    raise NotImplementedError


def sub(a: Any, b: Any) -> Any:
    """a - b (broadcasting)."""
    raise NotImplementedError


def mul(a: Any, b: Any) -> Any:
    """a * b (broadcasting)."""
    raise NotImplementedError


def div(a: Any, b: Any) -> Any:
    """a / b (broadcasting)."""
    raise NotImplementedError


def neg(a: Any) -> Any:
    """-a."""
    raise NotImplementedError


def pow(a: Any, exponent: float) -> Any:
    """a ** exponent for a Python float exponent (the spec uses a > 0 for non-integer exponents)."""
    raise NotImplementedError


def matmul(a: Any, b: Any) -> Any:
    """a @ b with NumPy semantics: 2-D @ 2-D, and batched N-D with broadcast batch dims,
    e.g. (B, T, C) @ (C, D) or (B, H, T, d) @ (B, H, d, T). A shape mismatch must raise an error
    (ValueError) whose message names both shapes."""
    raise NotImplementedError


def sum(a: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (None: all; int or tuple; negative axes allowed), as ``np.sum``."""
    raise NotImplementedError


def mean(a: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``, as ``np.mean``."""
    raise NotImplementedError


def max(a: Any, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis``, as ``np.max``. The spec differentiates it only where the maximum is
    unique."""
    raise NotImplementedError


def relu(a: Any) -> Any:
    """max(a, 0). The spec avoids evaluating the gradient exactly at 0."""
    raise NotImplementedError


def exp(a: Any) -> Any:
    """e ** a."""
    raise NotImplementedError


def log(a: Any) -> Any:
    """Natural log (the spec passes a > 0)."""
    raise NotImplementedError


def tanh(a: Any) -> Any:
    """Hyperbolic tangent."""
    raise NotImplementedError


def reshape(a: Any, shape: tuple[int, ...]) -> Any:
    """``a`` with a new shape (same size; one -1 allowed), as ``np.reshape``."""
    raise NotImplementedError


def transpose(a: Any, axes: tuple[int, ...] | None = None) -> Any:
    """Permute dims as ``np.transpose`` (None reverses them)."""
    raise NotImplementedError


def getitem(a: Any, index: Any) -> Any:
    """``a[index]`` with NumPy semantics for ints, slices (with steps) and integer arrays.
    Repeated integer indices must ACCUMULATE their gradients (scatter-add)."""
    raise NotImplementedError


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join tensors along an existing axis, as ``np.concatenate``."""
    raise NotImplementedError


def stack(tensors: Sequence[Any], axis: int = 0) -> Any:
    """Join same-shape tensors along a new axis, as ``np.stack``."""
    raise NotImplementedError


# =============================================================================================
# M2: layers (nn)
# =============================================================================================


# =============================================================================================
# M3: attention
# =============================================================================================


# =============================================================================================
# M4: transformer / GPT
# =============================================================================================


# =============================================================================================
# M5: BPE tokenizer
# =============================================================================================


# =============================================================================================
# M6: training
# =============================================================================================


# =============================================================================================
# M7: sampling
# =============================================================================================
