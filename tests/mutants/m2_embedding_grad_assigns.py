"""embedding's backward assigns (w[ids] = g) instead of scatter-adding, so repeated ids lose gradient."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "embedding_grad"


def embedding(ids, weight):
    ids = np.asarray(ids)

    def backward(g):
        dW = np.zeros_like(weight.data)
        dW[ids.reshape(-1)] = g.reshape(-1, weight.shape[1])  # last write wins
        return (dW,)

    return Tensor.from_op(weight.data[ids], (weight,), backward, "embedding_assign")
