"""with the KV cache, new tokens are rotated at positions 0.. instead of at the cache length."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "llama_step_logits"

_m8.BROKEN["cache_positions_not_offset"] = True
