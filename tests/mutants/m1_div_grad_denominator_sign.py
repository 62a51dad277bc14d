"""div's gradient w.r.t. the denominator is +a/b^2 (the minus sign is lost)."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and div"


def div(a, b):
    if not isinstance(b, Tensor):
        return a / b
    out = a.data / b.data
    return Tensor.from_op(out, (a, b), lambda g: (g / b.data, g * out / b.data), "div")
