"""sum ignores keepdims=True: the reduced axes are dropped anyway."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m1_ops.py"]
K = "test_forward and sum and keepdims"


def sum(a, axis=None, keepdims=False):
    return a.sum(axis=axis)
