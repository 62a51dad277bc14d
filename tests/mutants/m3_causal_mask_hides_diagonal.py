"""causal attention masks the diagonal too (strictly lower triangle): query i cannot see key i."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import scaled_dot_product_attention as _sdpa

SPEC = ["spec/test_m3_attention.py"]
K = "sdpa_forward"


def scaled_dot_product_attention(q, k, v, causal=False, mask=None):
    if causal:
        tq, tk = q.shape[-2], k.shape[-2]
        strict = np.tri(tq, tk, k=tk - tq - 1, dtype=bool)  # triu(ones, k=0) as the masked part
        mask = strict if mask is None else strict & np.asarray(mask, dtype=bool)
    return _sdpa(q, k, v, causal=False, mask=mask)
