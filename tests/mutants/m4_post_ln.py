"""transformer_block is post-LN (x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))) instead of pre-LN."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m4_gpt.py"]
K = "block_forward"


def transformer_block(x, n_head, params):
    p = params
    a = causal_self_attention(x, n_head, p["attn.c_attn.weight"], p.get("attn.c_attn.bias"),
                              p["attn.c_proj.weight"], p.get("attn.c_proj.bias"))
    x = layer_norm(x + a, p["ln_1.weight"], p.get("ln_1.bias"))
    m = linear(gelu(linear(x, p["mlp.c_fc.weight"], p.get("mlp.c_fc.bias"))), p["mlp.c_proj.weight"],
               p.get("mlp.c_proj.bias"))
    return layer_norm(x + m, p["ln_2.weight"], p.get("ln_2.bias"))
