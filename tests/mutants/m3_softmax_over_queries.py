"""attention normalises the scores over the QUERY axis (softmax(axis=-2)) instead of over the keys."""
import math

import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F
from numgpt.tensor import Tensor

SPEC = ["spec/test_m3_attention.py"]
K = "sdpa_forward"


def scaled_dot_product_attention(q, k, v, causal=False, mask=None):
    tq, tk = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(tuple(range(k.ndim - 2)) + (k.ndim - 1, k.ndim - 2))) * (1.0 / math.sqrt(q.shape[-1]))
    allowed = np.ones((tq, tk), dtype=bool)
    if causal:
        allowed &= np.tri(tq, tk, k=tk - tq, dtype=bool)
    if mask is not None:
        allowed = allowed & np.asarray(mask, dtype=bool)
    scores = scores + Tensor(np.where(allowed, 0.0, -np.inf).astype(q.dtype))
    return F.softmax(scores, axis=-2) @ v
