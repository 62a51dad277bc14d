"""rope rotates position p by the angle of p + 1 (positions counted from 1)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "rope_matches or rope_position_zero"

_m8.BROKEN["rope_positions_from_one"] = True
