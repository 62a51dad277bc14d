"""layer_norm adds eps outside the square root: (x - mu) / (sqrt(var) + eps)."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m2_nn.py"]
K = "layer_norm_eps"


def layer_norm(x, weight, bias, eps=1e-5):
    d = x - x.mean(axis=-1, keepdims=True)
    y = d / ((d * d).mean(axis=-1, keepdims=True) ** 0.5 + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias
