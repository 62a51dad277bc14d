"""matmul's gradient for the right operand is G^T @ A instead of A^T @ G (wrong transpose)."""
from spec.reference_adapter import *  # noqa: F401,F403
from spec.reference_adapter import matmul as _matmul
from numgpt.tensor import Tensor

SPEC = ["spec/test_m1_ops.py"]
K = "test_backward and matmul-square"


def matmul(a, b):
    if a.ndim != 2 or b.ndim != 2:
        return _matmul(a, b)
    A, B = a.data, b.data
    return Tensor.from_op(A @ B, (a, b), lambda g: (g @ B.T, g.T @ A), "matmul")
