"""backward() visits nodes in DFS pre-order, not reverse topological order (a shared node runs too early)."""
from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._engine import make_backward, preorder_topo

SPEC = ["spec/test_m1_autograd.py"]
K = "diamond"

backward = make_backward(preorder_topo)
