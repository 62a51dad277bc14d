"""top-k on a (B, V) batch keeps the k largest logits of the whole batch, not of each row."""
import numpy as np

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "batch"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    x = np.asarray(logits, dtype=np.float64)
    if top_k is None or temperature == 0 or x.ndim == 1:
        return _ref.filter_logits(logits, temperature, top_k, top_p)
    kth = np.sort(x, axis=None)[-top_k]  # BUG: one threshold for every row
    masked = np.where(x < kth, -np.inf, x)
    masked[np.all(np.isinf(masked), axis=-1)] = 0.0  # rows with no survivor: keep them finite
    return _ref.filter_logits(masked, temperature, None, top_p)
