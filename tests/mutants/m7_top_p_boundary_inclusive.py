"""top-p at an exact boundary keeps one token too many: it keeps tokens while the running total is <= p."""
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
    cumulative = np.cumsum(np.take_along_axis(probs, order, axis=-1), axis=-1)
    n_keep = np.minimum(np.sum(cumulative <= top_p, axis=-1) + 1, probs.shape[-1])  # BUG: <= instead of <
    keep = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(keep, order, np.arange(probs.shape[-1]) < n_keep[..., None], axis=-1)
    probs = np.where(keep & (probs > 0), probs, 0.0)
    return probs / probs.sum(axis=-1, keepdims=True)
