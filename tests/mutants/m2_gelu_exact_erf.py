"""gelu is the exact erf form x * Phi(x), but the contract is GPT-2's tanh approximation."""
import math

import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "gelu_forward"

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    cdf = (0.5 * (1.0 + _erf(x.data / math.sqrt(2.0)))).astype(x.dtype)
    pdf = (np.exp(-0.5 * x.data ** 2) / math.sqrt(2 * math.pi)).astype(x.dtype)
    return Tensor.from_op(x.data * cdf, (x,), lambda g: (g * (cdf + x.data * pdf),), "gelu_erf")
