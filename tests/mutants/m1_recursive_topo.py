"""backward() sorts the graph recursively, so a chain of 100,000 ops hits the recursion limit."""
from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._engine import make_backward, recursive_topo

SPEC = ["spec/test_m1_autograd.py"]
K = "deep_chain"

backward = make_backward(recursive_topo)
