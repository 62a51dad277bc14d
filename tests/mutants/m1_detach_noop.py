"""detach() returns the tensor itself, so gradient still flows through it."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m1_autograd.py"]
K = "detach"


def detach(t):
    return t
