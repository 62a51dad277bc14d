"""attention applies a mask only when its trailing dims are (Tq, Tk): a (B, 1, 1, Tk) key-padding mask is ignored."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import scaled_dot_product_attention as _sdpa

SPEC = ["spec/test_m3_attention.py"]
K = "key_padding"


def scaled_dot_product_attention(q, k, v, causal=False, mask=None):
    if mask is not None and np.shape(mask)[-2:] != (q.shape[-2], k.shape[-2]):
        mask = None  # "only full (..., Tq, Tk) masks are supported"
    return _sdpa(q, k, v, causal=causal, mask=mask)
