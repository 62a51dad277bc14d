"""The gradient of a broadcast operand is averaged over the broadcast dims instead of summed."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._engine import make_backward
from numgpt.tensor import unbroadcast

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and bcast"


def _averaged(g, shape):
    return unbroadcast(g, shape) * (np.prod(shape, dtype=int) / g.size)


backward = make_backward(reduce=_averaged)
