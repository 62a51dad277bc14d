"""attention scores are scaled by 1/hs instead of 1/sqrt(hs)."""
import math

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import scaled_dot_product_attention as _sdpa

SPEC = ["spec/test_m3_attention.py"]
K = "sdpa_forward"


def scaled_dot_product_attention(q, k, v, causal=False, mask=None):
    return _sdpa(q * (1.0 / math.sqrt(q.shape[-1])), k, v, causal=causal, mask=mask)
