"""dropout's backward draws a NEW mask instead of reusing the forward's."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "dropout_gradient"


def dropout(x, p, training, seed):
    if not training or p == 0:
        return x
    rng = np.random.default_rng(seed)

    def mask():
        return ((rng.random(x.shape) >= p) / (1.0 - p)).astype(x.dtype)

    return Tensor.from_op(x.data * mask(), (x,), lambda g: (g * mask(),), "dropout")
