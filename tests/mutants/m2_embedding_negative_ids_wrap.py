"""embedding checks only ids >= V: a negative id silently wraps around to row V + id (NumPy indexing)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "embedding_out_of_range"


def embedding(ids, weight):
    ids = np.asarray(ids)
    V = weight.shape[0]
    if ids.size and ids.max() >= V:
        raise IndexError(f"embedding id {ids.max()} is out of range for a table of {V} rows")

    def backward(g):
        dW = np.zeros_like(weight.data)
        np.add.at(dW, ids.reshape(-1), g.reshape(-1, weight.shape[1]))
        return (dW,)

    return Tensor.from_op(weight.data[ids], (weight,), backward, "embedding")
