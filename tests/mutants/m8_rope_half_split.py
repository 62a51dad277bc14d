"""RoPE pairs (x[i], x[i + hs/2]) (rotate_half) instead of the interleaved (x[2i], x[2i+1])."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "rope_matches"

_m8.BROKEN["rope_half_split"] = True
