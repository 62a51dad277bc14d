"""causal_self_attention splits heads with q.reshape(B, nh, T, hs) (no transpose), mixing positions across heads."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F

SPEC = ["spec/test_m3_attention.py"]
K = "causal_self_attention_matches"


def causal_self_attention(x, n_head, c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    B, T, C = x.shape
    qkv = F.linear(x, c_attn_weight, c_attn_bias)
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, n_head, T, C // n_head) for i in range(3))  # should be
    y = scaled_dot_product_attention(q, k, v, causal=True).reshape(B, T, C)  # (B, T, nh, hs).transpose(0, 2, 1, 3)
    return F.linear(y, c_proj_weight, c_proj_bias)
