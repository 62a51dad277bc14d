"""gpt_init builds one block and copies it n_layer times: every layer starts with the same weights."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import gpt_init as _gpt_init

SPEC = ["spec/test_m4_gpt.py"]
K = "independently"


def gpt_init(config, seed):
    state = _gpt_init(config, seed)
    for name in state:
        if name.startswith("transformer.h.") and not name.startswith("transformer.h.0."):
            rest = name.split(".", 3)[3]
            state[name] = state[f"transformer.h.0.{rest}"].copy()
    return state
