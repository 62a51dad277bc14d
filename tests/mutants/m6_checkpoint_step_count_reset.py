"""load_checkpoint restores the moments but not the optimizer's step count t (bias correction restarts at 1)."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m6_training.py"]
K = "checkpoint"


def load_checkpoint(path):
    model, optimizer, step = _ref.load_checkpoint(path)
    optimizer.t = 0  # BUG: t must continue from the saved value
    return model, optimizer, step
