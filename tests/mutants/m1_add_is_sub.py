"""add() subtracts instead of adding."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m1_ops.py"]
K = "add"


def add(a, b):
    return a - b
