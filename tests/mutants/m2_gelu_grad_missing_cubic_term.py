"""gelu's backward forgets the derivative of the cubic term: k instead of k (1 + 3 * 0.044715 x^2)."""
import math

import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "gelu_grads"
_K = math.sqrt(2.0 / math.pi)


def gelu(x):
    xd = x.data
    h = 0.5 * (1.0 + np.tanh(_K * (xd + 0.044715 * xd ** 3)))
    return Tensor.from_op(xd * h, (x,), lambda g: (g * (h + 2.0 * xd * _K * h * (1.0 - h)),), "gelu")
