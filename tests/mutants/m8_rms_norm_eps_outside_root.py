"""rms_norm adds eps outside the root: x / (sqrt(mean(x^2)) + eps)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "rms_norm_matches"

_m8.BROKEN["rms_eps_outside_root"] = True
