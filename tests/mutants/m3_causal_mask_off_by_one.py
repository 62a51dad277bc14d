"""causal attention lets query i also see key i + 1 (the causal mask is off by one)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import scaled_dot_product_attention as _sdpa

SPEC = ["spec/test_m3_attention.py"]
K = "later_keys_never_change or sdpa_forward"


def scaled_dot_product_attention(q, k, v, causal=False, mask=None):
    if causal:
        tq, tk = q.shape[-2], k.shape[-2]
        leaky = np.tri(tq, tk, k=tk - tq + 1, dtype=bool)
        mask = leaky if mask is None else leaky & np.asarray(mask, dtype=bool)
    return _sdpa(q, k, v, causal=False, mask=mask)
