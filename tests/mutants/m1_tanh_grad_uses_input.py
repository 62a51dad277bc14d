"""tanh's backward uses 1 - x^2 instead of 1 - tanh(x)^2."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and tanh"


def tanh(a):
    return Tensor.from_op(np.tanh(a.data), (a,), lambda g: (g * (1 - a.data * a.data),), "tanh")
