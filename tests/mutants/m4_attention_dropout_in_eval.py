"""the attention-weights dropout uses p whatever the mode: still active in eval mode."""
import types

from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import gpt_model as _gpt_model
from numgpt.attention import causal_self_attention as _causal_self_attention

SPEC = ["spec/test_m4_gpt.py"]
K = "dropout_only_in_training_mode"


def _forward(self, x, cache=None):
    p = self.attn_dropout.p  # should be: p if self.training else 0.0
    y = _causal_self_attention(self.c_attn(x), self.n_head, p, self.attn_dropout.rng)
    return self.resid_dropout(self.c_proj(y))


def gpt_model(config, state_dict, dtype=None):
    model = _gpt_model(config, state_dict) if dtype is None else _gpt_model(config, state_dict, dtype)
    for block in model.transformer.h:
        block.attn.forward = types.MethodType(_forward, block.attn)
    return model
