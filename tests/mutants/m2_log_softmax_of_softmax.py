"""log_softmax is log(softmax(x)): -inf once a probability underflows (logits of magnitude 1e4)."""
import numpy as np

from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F

SPEC = ["spec/test_m2_nn.py"]
K = "softmax_is_stable and log_softmax"


def log_softmax(x, axis=-1):
    with np.errstate(all="ignore"):  # let the -inf through so the contract (not a warning) catches it
        return F.softmax(x, axis=axis).log()
