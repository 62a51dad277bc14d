"""SwiGLU's gates swapped: silu on the up projection w3 x instead of the gate w1 x."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "swiglu_matches"

_m8.BROKEN["swiglu_silu_on_up"] = True
