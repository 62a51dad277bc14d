"""log's backward multiplies by x instead of dividing by it."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and log"


def log(a):
    return Tensor.from_op(np.log(a.data), (a,), lambda g: (g * a.data,), "log")
