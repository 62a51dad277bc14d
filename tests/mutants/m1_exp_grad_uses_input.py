"""exp's backward multiplies by the input x instead of by exp(x)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and exp"


def exp(a):
    return Tensor.from_op(np.exp(a.data), (a,), lambda g: (g * a.data,), "exp")
