"""layer_norm divides the variance by C - 1 (unbiased) instead of C (biased, as GPT-2/PyTorch)."""
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m2_nn.py"]
K = "layer_norm_forward"


def layer_norm(x, weight, bias, eps=1e-5):
    C = x.shape[-1]
    d = x - x.mean(axis=-1, keepdims=True)
    var = (d * d).sum(axis=-1, keepdims=True) * (1.0 / (C - 1))
    y = d * (var + eps) ** -0.5
    y = y if weight is None else y * weight
    return y if bias is None else y + bias
