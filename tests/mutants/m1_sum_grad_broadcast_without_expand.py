"""sum's backward broadcasts g to the input shape without re-inserting the reduced axis (aligned with the last)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and sum-axis1-square"


def sum(a, axis=None, keepdims=False):
    shape = a.shape
    return Tensor.from_op(np.sum(a.data, axis=axis, keepdims=keepdims), (a,),
                          lambda g: (np.broadcast_to(g, shape),), "sum")
