"""M3: attention. Fused scaled dot-product attention, causal multi-head / grouped-query self-attention,
rotary position embeddings (RoPE), KV cache."""
from .attention import (
    CausalSelfAttention, KVCache, LayerKVCache, LlamaAttention, attention_weights, causal_bias, causal_self_attention, kv_group_size,
    scaled_dot_product_attention, self_attention,
)
from .rope import apply_rope, hf_to_interleaved_rows, interleaved_to_hf_rows, rope_tables

__all__ = [
    "scaled_dot_product_attention", "attention_weights", "causal_self_attention", "self_attention",
    "CausalSelfAttention", "LlamaAttention", "KVCache", "LayerKVCache", "causal_bias", "kv_group_size", "apply_rope",
    "hf_to_interleaved_rows", "interleaved_to_hf_rows", "rope_tables",
]
