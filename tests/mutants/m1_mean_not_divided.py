"""mean's backward does not divide by N (the gradient is that of sum)."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and mean"


def mean(a, axis=None, keepdims=False):
    s = a.sum(axis=axis, keepdims=keepdims)
    return Tensor.from_op(s.data / (a.size // s.size), (s,), lambda g: (g,), "mean")
