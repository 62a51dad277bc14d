"""causal_self_attention splits c_attn's output per head as [q_h | k_h | v_h] instead of [q | k | v]."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F
from numgpt.tensor import concatenate

SPEC = ["spec/test_m3_attention.py"]
K = "causal_self_attention_matches"


def causal_self_attention(x, n_head, c_attn_weight, c_attn_bias, c_proj_weight, c_proj_bias):
    B, T, C = x.shape
    hs = C // n_head
    qkv = F.linear(x, c_attn_weight, c_attn_bias).reshape(B, T, n_head, 3, hs)  # wrong grouping
    q, k, v = (qkv[:, :, :, j].transpose(0, 2, 1, 3) for j in range(3))  # (B, nh, T, hs)
    y = scaled_dot_product_attention(q, k, v, causal=True).transpose(0, 2, 1, 3).reshape(B, T, C)
    return F.linear(y, c_proj_weight, c_proj_bias)
