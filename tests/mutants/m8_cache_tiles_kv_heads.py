"""the KV cache stores n_head heads, expanded from the n_kv_head heads in tiled order (h % n_kv_head)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "llama_step_logits"

_m8.BROKEN["cache_tiles_kv_heads"] = True
