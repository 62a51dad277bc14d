"""rope ignores its theta argument and always uses 10000."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "rope_matches"

_m8.BROKEN["rope_theta_ignored"] = True
