"""cross_entropy skips ignored targets in the sum but still divides by ALL positions."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "cross_entropy_forward"


def cross_entropy(logits, targets, ignore_index=-1):
    V = logits.shape[-1]
    t = np.asarray(targets).reshape(-1)
    valid = t != ignore_index
    logp = F.log_softmax(logits.reshape(-1, V))
    picked = logp[np.arange(t.size), np.where(valid, t, 0)] * Tensor(valid.astype(logits.dtype))
    return -(picked.sum() / t.size)  # should divide by valid.sum()
