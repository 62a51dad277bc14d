"""pow's backward computes p * out / x (0/0 = NaN at x = 0) instead of p * x ** (p - 1)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and through-zero"


def pow(a, exponent):
    p = float(exponent)
    out = a.data ** p

    def backward(g):
        with np.errstate(all="ignore"):
            return (g * p * out / a.data,)

    return Tensor.from_op(out, (a,), backward, "pow")
