"""top-p keeps only the tokens whose running total stays below p: the token that crosses p is dropped."""
import numpy as np

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "top_p"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    probs = _ref.filter_logits(logits, temperature, top_k, None)
    if top_p is None or temperature == 0:
        return probs
    order = np.argsort(-probs, axis=-1, kind="stable")
    below = np.cumsum(np.take_along_axis(probs, order, axis=-1), axis=-1) < top_p  # BUG: misses the crossing token
    below[..., 0] = True
    keep = np.zeros_like(below)
    np.put_along_axis(keep, order, below, axis=-1)
    probs = np.where(keep, probs, 0.0)
    return probs / probs.sum(axis=-1, keepdims=True)
