"""reshape's backward returns the upstream gradient in the OUTPUT's shape, not reshaped back to the input's."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and reshape"


def reshape(a, shape):
    return Tensor.from_op(a.data.reshape(shape), (a,), lambda g: (g,), "reshape")
