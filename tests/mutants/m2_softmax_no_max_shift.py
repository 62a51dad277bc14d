"""softmax computes exp(x) / sum(exp(x)) without subtracting the row max (overflows for |x| ~ 1e4)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m2_nn.py"]
K = "softmax_is_stable"


def softmax(x, axis=-1):
    with np.errstate(all="ignore"):  # let the inf/NaN through so the contract (not a warning) catches it
        e = x.exp()
        return e / e.sum(axis=axis, keepdims=True)
