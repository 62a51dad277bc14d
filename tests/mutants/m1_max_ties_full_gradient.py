"""max's backward gives the WHOLE upstream gradient to every tied maximum instead of splitting it evenly."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "ties"


def max(a, axis=None, keepdims=False):
    axes = tuple(range(a.ndim)) if axis is None else tuple(np.atleast_1d(axis) % a.ndim)
    top = np.max(a.data, axis=axes, keepdims=True)

    def backward(g):
        g = g if keepdims else np.expand_dims(g, axes)
        return (g * (a.data == top),)  # no division by the number of ties

    return Tensor.from_op(np.max(a.data, axis=axes, keepdims=keepdims), (a,), backward, "max")

