"""transpose's backward permutes the gradient by the same axes instead of the inverse permutation."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and transpose"


def transpose(a, axes=None):
    perm = tuple(reversed(range(a.ndim))) if axes is None else tuple(axes)
    return Tensor.from_op(a.data.transpose(perm), (a,), lambda g: (g.transpose(perm),), "transpose")
