"""get_batch returns targets equal to the inputs (not shifted by one)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import get_batch as _get_batch

SPEC = ["spec/test_m6_training.py"]
K = "get_batch"


def get_batch(data, batch_size, block_size, seed):
    x, _ = _get_batch(data, batch_size, block_size, seed)
    return x, np.array(x, copy=True)
