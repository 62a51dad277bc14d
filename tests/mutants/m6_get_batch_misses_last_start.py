"""get_batch never draws the last valid start (integers(0, n - T - 1)): the last token is never a target."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "get_batch"


def get_batch(data, batch_size, block_size, seed):
    starts = np.random.default_rng(seed).integers(0, len(data) - block_size - 1, size=batch_size)
    idx = starts[:, None] + np.arange(block_size + 1)
    window = np.asarray(data[idx], dtype=np.int64)
    return window[:, :-1], window[:, 1:]
