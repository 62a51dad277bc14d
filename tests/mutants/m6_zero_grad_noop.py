"""optimizer_zero_grad clears nothing: each step's gradient is added to all the previous ones."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "adamw"


def optimizer_zero_grad(optimizer):
    pass  # BUG: the gradients must be reset between steps
