"""transpose inverts the permutation with argsort of the RAW axes, wrong for negative axes like (-1, 0, -2)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and transpose-negative"


def transpose(a, axes=None):
    if axes is None:
        return a.transpose()
    inverse = tuple(int(i) for i in np.argsort(axes))  # axes not normalised (axis % ndim) first
    return Tensor.from_op(a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),), "transpose")
