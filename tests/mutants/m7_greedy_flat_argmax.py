"""Greedy (temperature 0) over a (B, V) batch takes one argmax of the flattened batch: every row gets that column."""
import numpy as np

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "temperature_zero"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature != 0:
        return _ref.filter_logits(logits, temperature, top_k, top_p)
    x = np.asarray(logits, dtype=np.float64)
    out = np.zeros_like(x)
    out[..., np.argmax(x) % x.shape[-1]] = 1.0  # BUG: argmax over the whole batch, not per row
    return out
