"""silu returns sigmoid(x) instead of x * sigmoid(x)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "silu_matches"

_m8.BROKEN["silu_is_sigmoid"] = True
