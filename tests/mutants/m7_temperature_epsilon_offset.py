"""The logits are divided by temperature + 1e-6 (an epsilon against division by zero) instead of by the temperature."""
from spec import reference_adapter as _ref
from spec.reference_adapter import *  # noqa: F401,F403

SPEC = ["spec/test_m7_sampling.py"]
K = "temperature"


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature <= 0 or temperature != temperature:
        return _ref.filter_logits(logits, temperature, top_k, top_p)
    return _ref.filter_logits(logits * (temperature / (temperature + 1e-6)), temperature, top_k, top_p)
