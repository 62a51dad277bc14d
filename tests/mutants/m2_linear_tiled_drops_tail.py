"""linear's tiled fast path for more than 1024 rows loops over range(0, N - TILE, TILE): the last tile stays zero."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import linear as _linear
from numgpt.tensor import Tensor

SPEC = ["spec/test_m2_nn.py"]
K = "realistic_size and linear"
TILE = 1024


def linear(x, weight, bias=None):
    y = _linear(x, weight, bias)
    n = int(np.prod(x.shape[:-1]))
    if n <= TILE:
        return y
    covered = len(range(0, n - TILE, TILE)) * TILE  # rows the buggy tile loop writes
    rows = (np.arange(n) < covered).astype(y.dtype).reshape(x.shape[:-1] + (1,))
    return y * Tensor(rows)
