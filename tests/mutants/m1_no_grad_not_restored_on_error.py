"""no_grad() restores grad mode after the yield, not in a finally: an exception in the block leaves it off."""
import contextlib

import numgpt.tensor.tensor as _engine_module
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m1_autograd.py"]
K = "restored_after_an_exception"


@contextlib.contextmanager
def no_grad():
    previous = _engine_module._grad_enabled
    _engine_module._grad_enabled = False
    yield
    _engine_module._grad_enabled = previous  # skipped when the block raises
