"""RoPE rotates the wrong way: (a cos + b sin, -a sin + b cos)."""
from tests.mutants import _m8
from tests.mutants._m8 import *  # noqa: F401,F403

SPEC = ["spec/test_m8_blocks.py"]
K = "rope_matches"

_m8.BROKEN["rope_sign_flipped"] = True
