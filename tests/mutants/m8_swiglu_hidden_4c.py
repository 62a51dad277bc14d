"""llama_init sizes the SwiGLU hidden layer 4 * n_embd (GPT-2's rule) instead of 32 * ceil(2/3 * 4 * n_embd / 32)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "llama_init"

_m8.BROKEN["swiglu_hidden_4c"] = True
