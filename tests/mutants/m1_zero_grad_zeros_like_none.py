"""zero_grad sets grad = np.zeros_like(grad): on a leaf without a gradient that is a 0-d object array, not None."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m1_autograd.py"]
K = "zero_grad"


def zero_grad(t):
    t.grad = np.zeros_like(t.grad)
