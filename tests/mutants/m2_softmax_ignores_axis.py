"""softmax always normalises over the last axis, whatever axis it is given."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F

SPEC = ["spec/test_m2_nn.py"]
K = "softmax_forward"


def softmax(x, axis=-1):
    return F.softmax(x)
