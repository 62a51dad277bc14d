"""attention's fast path for more than 64 keys computes in float32 (a float64 input loses ~1e-7 relative)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import scaled_dot_product_attention as _sdpa

SPEC = ["spec/test_m3_attention.py"]
K = "realistic"


def scaled_dot_product_attention(q, k, v, causal=False, mask=None):
    if k.shape[-2] <= 64 or q.dtype != np.float64:
        return _sdpa(q, k, v, causal=causal, mask=mask)
    low = [t.astype(np.float32) for t in (q, k, v)]  # "halves the memory of the scores"
    return _sdpa(*low, causal=causal, mask=mask).astype(np.float64)
