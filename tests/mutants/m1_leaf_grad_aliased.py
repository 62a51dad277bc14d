"""backward() stores a leaf's first gradient without a copy (aliasing the upstream array), then adds in place."""
from spec.reference_adapter import *  # noqa: F401,F403
from tests.mutants._engine import make_backward

SPEC = ["spec/test_m1_autograd.py"]
K = "not_aliased"

backward = make_backward(alias_leaves=True)
