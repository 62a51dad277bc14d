"""dropout zeroes elements with probability p but does not scale the survivors by 1/(1-p)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "dropout_statistics"


def dropout(x, p, training, seed):
    if not training or p == 0:
        return x
    keep = (np.random.default_rng(seed).random(x.shape) >= p).astype(x.dtype)
    return x * Tensor(keep)
