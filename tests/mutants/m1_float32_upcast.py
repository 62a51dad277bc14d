"""tensor() silently stores float32 data as float64, so float32 models compute in float64."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_autograd.py"]
K = "float32 and tanh"


def tensor(data, requires_grad=False):
    data = np.asarray(data)
    return Tensor(data.astype(np.float64) if data.dtype == np.float32 else data, requires_grad=requires_grad)
