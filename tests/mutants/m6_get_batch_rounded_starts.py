"""get_batch rounds a uniform float to a start (round(u * (n - T - 1))): the two end starts get half the weight."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "get_batch"


def get_batch(data, batch_size, block_size, seed):
    rng = np.random.default_rng(seed)
    starts = np.round(rng.random(batch_size) * (len(data) - block_size - 1)).astype(np.int64)
    idx = starts[:, None] + np.arange(block_size + 1)
    window = np.asarray(data[idx], dtype=np.int64)
    return window[:, :-1], window[:, 1:]
