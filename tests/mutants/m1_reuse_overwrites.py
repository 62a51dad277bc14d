"""backward() keeps only the last gradient contribution to a node used several times (a*a + a)."""
from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._engine import make_backward

SPEC = ["spec/test_m1_autograd.py"]
K = "reused_node"

backward = make_backward(sum_contributions=False)
