"""Indexing's backward assigns (full[idx] = g) instead of scatter-adding: repeated indices lose gradient."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and repeats"


def getitem(a, index):
    def backward(g):
        full = np.zeros(a.shape, dtype=g.dtype)
        full[index] = g
        return (full,)

    return Tensor.from_op(a.data[index], (a,), backward, "getitem")
