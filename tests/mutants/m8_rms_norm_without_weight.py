"""rms_norm ignores its weight (returns x / rms)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "rms_norm_matches"

_m8.BROKEN["rms_no_weight"] = True
