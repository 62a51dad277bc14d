"""backward() overwrites a leaf's .grad instead of accumulating (+=) across backward calls."""
from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._engine import make_backward

SPEC = ["spec/test_m1_autograd.py"]
K = "accumulates"

backward = make_backward(accumulate_leaves=False)
