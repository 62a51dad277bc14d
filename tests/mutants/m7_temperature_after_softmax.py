"""The temperature divides the probabilities after the softmax (so, once renormalised, it has no effect)."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "temperature"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature <= 0 or temperature != temperature:
        return _ref.filter_logits(logits, temperature, top_k, top_p)
    probs = _ref.filter_logits(logits, 1.0, top_k, top_p) / temperature  # BUG: should scale the logits
    return probs / probs.sum(axis=-1, keepdims=True)
