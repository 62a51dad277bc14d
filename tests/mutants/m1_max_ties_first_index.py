"""max's backward sends the gradient to the FIRST tied maximum only (argmax one-hot, like torch.max(x, dim))."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "ties"


def max(a, axis=None, keepdims=False):
    axes = tuple(range(a.ndim)) if axis is None else tuple(int(x) % a.ndim for x in np.atleast_1d(axis))
    last = tuple(range(a.ndim - len(axes), a.ndim))

    def backward(g):
        g = g if keepdims else np.expand_dims(g, axes)
        moved = np.moveaxis(a.data, axes, last)
        flat = moved.reshape(moved.shape[:a.ndim - len(axes)] + (-1,))
        onehot = np.zeros_like(flat)
        np.put_along_axis(onehot, np.argmax(flat, axis=-1)[..., None], 1.0, axis=-1)
        return (g * np.moveaxis(onehot.reshape(moved.shape), last, axes),)

    return Tensor.from_op(np.max(a.data, axis=axes, keepdims=keepdims), (a,), backward, "max")
