"""M1: Tensor and reverse-mode autograd (``from numgpt.tensor import Tensor``)."""
from .tensor import Tensor, accumulate_grad, concatenate, is_grad_enabled, matmul, no_grad, stack, unbroadcast
from .gradcheck import GradcheckError, gradcheck

__all__ = [
    "Tensor", "accumulate_grad", "matmul", "concatenate", "stack", "no_grad", "is_grad_enabled", "unbroadcast",
    "gradcheck", "GradcheckError",
]
