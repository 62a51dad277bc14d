"""the Llama attention rotates v as well as q and k."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "llama_self_attention_matches"

_m8.BROKEN["rope_on_v"] = True
