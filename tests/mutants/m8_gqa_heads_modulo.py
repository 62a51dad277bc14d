"""query head h reads kv head h % n_kv_head (tiled) instead of h // (n_head // n_kv_head)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "gqa_equals"

_m8.BROKEN["gqa_modulo_heads"] = True
