"""The spec's adapter for numgpt, the reference implementation.

This is ``spec/adapter_template.py`` filled in: each function maps one contract onto numgpt's
API. It is the only file in spec/ that imports numgpt.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import numgpt.tensor as nt
from numgpt.tensor import Tensor

# =============================================================================================
# M1: Tensor + autograd
# =============================================================================================


def tensor(data: np.ndarray, requires_grad: bool = False) -> Tensor:
    return Tensor(np.asarray(data), requires_grad=requires_grad)


def to_numpy(t: Tensor) -> np.ndarray:
    return t.data


def backward(t: Tensor, grad: np.ndarray | None = None) -> None:
    t.backward(grad)


def grad(t: Tensor) -> np.ndarray | None:
    return t.grad


def zero_grad(t: Tensor) -> None:
    t.zero_grad()


def no_grad():
    return nt.no_grad()


def detach(t: Tensor) -> Tensor:
    return t.detach()


def add(a: Tensor, b: Any) -> Tensor:
    return a + b


def sub(a: Tensor, b: Any) -> Tensor:
    return a - b


def mul(a: Tensor, b: Any) -> Tensor:
    return a * b


def div(a: Tensor, b: Any) -> Tensor:
    return a / b


def neg(a: Tensor) -> Tensor:
    return -a


def pow(a: Tensor, exponent: float) -> Tensor:
    return a ** exponent


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a @ b


def sum(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return a.sum(axis=axis, keepdims=keepdims)


def mean(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return a.mean(axis=axis, keepdims=keepdims)


def max(a: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    return a.max(axis=axis, keepdims=keepdims)


def relu(a: Tensor) -> Tensor:
    return a.relu()


def exp(a: Tensor) -> Tensor:
    return a.exp()


def log(a: Tensor) -> Tensor:
    return a.log()


def tanh(a: Tensor) -> Tensor:
    return a.tanh()


def reshape(a: Tensor, shape) -> Tensor:
    return a.reshape(shape)


def transpose(a: Tensor, axes=None) -> Tensor:
    return a.transpose(axes)


def getitem(a: Tensor, index) -> Tensor:
    return a[index]


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    return nt.concatenate(tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    return nt.stack(tensors, axis=axis)


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
