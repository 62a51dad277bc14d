"""layer_norm applies the bias only together with a weight: weight None with a bias drops the bias."""
from spec.reference_adapter import *  # noqa: F401,F403
from numgpt.nn import functional as F

SPEC = ["spec/test_m2_nn.py"]
K = "bias_but_no_weight"


def layer_norm(x, weight, bias, eps=1e-5):
    if weight is None:
        return F.layer_norm(x, None, None, eps)
    return F.layer_norm(x, weight, bias, eps)
