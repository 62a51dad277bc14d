"""M3: attention. Fused scaled dot-product attention, causal multi-head self-attention, KV cache."""
from .attention import (
    CausalSelfAttention, KVCache, LayerKVCache, attention_weights, causal_bias, causal_self_attention, scaled_dot_product_attention,
)

__all__ = [
    "scaled_dot_product_attention", "attention_weights", "causal_self_attention", "CausalSelfAttention", "KVCache", "LayerKVCache",
    "causal_bias",
]
