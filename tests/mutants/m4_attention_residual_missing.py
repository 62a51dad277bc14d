"""transformer_block drops the attention residual: x = attn(ln_1(x)) instead of x + attn(ln_1(x))."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m4_gpt.py"]
K = "block_forward"


def transformer_block(x, n_head, params):
    p = params
    x = causal_self_attention(layer_norm(x, p["ln_1.weight"], p.get("ln_1.bias")), n_head, p["attn.c_attn.weight"],
                              p.get("attn.c_attn.bias"), p["attn.c_proj.weight"], p.get("attn.c_proj.bias"))
    m = layer_norm(x, p["ln_2.weight"], p.get("ln_2.bias"))
    return x + linear(gelu(linear(m, p["mlp.c_fc.weight"], p.get("mlp.c_fc.bias"))), p["mlp.c_proj.weight"],
                      p.get("mlp.c_proj.bias"))
