"""max's backward sends the gradient to every element of the reduced slice, not only the maximum."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and max"


def max(a, axis=None, keepdims=False):
    s = a.sum(axis=axis, keepdims=keepdims)  # sum's backward broadcasts g to every element
    return Tensor.from_op(np.max(a.data, axis=axis, keepdims=keepdims), (s,), lambda g: (g,), "max")
