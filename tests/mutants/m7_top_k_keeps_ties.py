"""top-k keeps every logit >= the k-th largest (nanoGPT's threshold), so ties at the boundary keep more than k tokens."""
import numpy as np

from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "top_k"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    if top_k is None or temperature == 0 or top_k >= np.shape(logits)[-1]:
        return _ref.filter_logits(logits, temperature, top_k, top_p)
    x = np.asarray(logits, dtype=np.float64)
    kth = np.sort(x, axis=-1)[..., -top_k][..., None]
    return _ref.filter_logits(np.where(x < kth, -np.inf, x), temperature, None, top_p)
